"""Benchmark programs for asgiws: servers under test, a load generator and the runner."""
