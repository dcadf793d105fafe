"""Workflows compose data, training, distribution and evaluation into the user's jobs."""
