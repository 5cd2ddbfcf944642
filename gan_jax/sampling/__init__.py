"""Sampling a trained generator: restoring it, latent codes, truncation and
interpolation, pictures of samples."""
