"""Durable background work: job queue, worker loop, maintenance."""
