"""Statewave benchmarks (see bench/README.md)."""
