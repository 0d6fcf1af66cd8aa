"""Running one clip on several processes (issue 16): sequence parallelism of the DiT."""
