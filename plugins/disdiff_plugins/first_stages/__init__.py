"""First-stage autoencoders: identity (pixel space), VQ and KL (LDM style)."""
