"""Backbone plugins: ``unet`` (ADM UNet) and ``diffusers`` (a diffusers UNet2DModel folder)."""
