"""Persistence: tables, engine, repositories and queries."""
