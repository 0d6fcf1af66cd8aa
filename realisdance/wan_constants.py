"""Numbers fixed by Wan 2.1 that several layers need, in one dependency-free place (no torch, no diffusers)."""

TEXT_TOKENS = 512  # umT5 context length; the Wan attention processor takes everything before the last 512 as CLIP
CLIP_TOKENS = 257  # CLIP ViT-H/14 at 224 px: 16 x 16 patches + the class token
VAE_TEMPORAL = 4  # Wan 2.1 VAE: the first frame alone, then 4 frames per latent frame (81 -> 21)
VAE_SPATIAL = 8  # Wan 2.1 VAE: 8x spatial compression
TOKEN_PIXELS = 16  # the VAE's 8x times the DiT's 2x2 patch
