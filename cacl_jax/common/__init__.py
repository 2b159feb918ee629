"""Shared by both training phases: checkpoints, the epoch loop, metric logs,
run records and health checks."""
