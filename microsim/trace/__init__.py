"""Trace analysis (in progress)."""
