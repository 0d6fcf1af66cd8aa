"""Fine-tuning RealisDance-DiT with the paper's strategies (issue 15)."""
