"""Built-in metric plugins: disentanglement_lib's metrics re-implemented as pure functions with
dlib's sampling order and study settings, TAD for CelebA attributes, and FID."""
