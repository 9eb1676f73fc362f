"""Support features: resolutions, customer health (with alerts), SLA and handoff packs."""
