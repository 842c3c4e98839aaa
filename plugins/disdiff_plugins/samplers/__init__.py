"""Sampler plugins: ``ddpm`` (ancestral) and ``ddim`` (with deterministic inversion)."""
