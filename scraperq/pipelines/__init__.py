"""Item pipelines: validate items, then store them in batches."""
