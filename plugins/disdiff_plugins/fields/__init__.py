"""Gradient-field plugins: ``shift-unet`` (DisDiff's decoder-half field)."""
