"""Reproducible benchmarks: each script runs its baseline in the same run and prints one JSON line last."""
