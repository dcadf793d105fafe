"""Evaluation: streamflow metrics and per-basin summaries."""
