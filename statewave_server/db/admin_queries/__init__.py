"""SQL behind the operator surface (``/admin/*``, backup, snapshots, packs).

Every function takes the caller's session and never commits. Listing queries take an
optional ``tenant_id`` (None = every tenant, rows carry their tenant); queries about one
subject always take the exact tenant, so no admin path mixes two tenants' data.
"""
