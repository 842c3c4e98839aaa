"""Representation-encoder plugins: ``conv4`` (the reference Encoder4) and ``timm`` (any timm
model as trunk)."""
