"""Shared by both training phases: checkpoints, metric logs, phase configs."""
