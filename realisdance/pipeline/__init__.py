"""RealisDance-DiT inference pipeline: input preprocessing (``preprocess``) and, later, the sampler around the DiT."""
