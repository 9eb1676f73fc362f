"""Test helpers: real PostgreSQL servers, subprocess runners, row factories."""
