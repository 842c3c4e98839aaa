"""Data access: the zarr store layout, loaders for training, and ground truth for metrics."""
