"""The RealisDance-DiT transformer: diffusers' Wan 2.1 DiT plus three small modules.

What differs from ``WanTransformer3DModel`` (spec section 1.3):
- ``add_conv_in`` + ``add_proj`` (zero-initialised) patchify the pose latents and ADD them to the video tokens;
- ``attn_conv_in`` patchifies the reference latent; its tokens are APPENDED to the sequence, share self- and
  cross-attention and the timestep modulation, and are dropped after ``proj_out``;
- shifted RoPE places the reference tokens below-right of the video grid (``rope.py``).

The blocks, the condition embedder and the output head are diffusers' own, so the official ``transformer/`` folder
loads key for key, and attention backends / layerwise casting / offloading hooks from diffusers apply unchanged.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
from diffusers.utils import USE_PEFT_BACKEND, scale_lora_layers, unscale_lora_layers

from ..errors import InputError
from ..wan_constants import TEXT_TOKENS  # text arrives as exactly this many tokens (the processor splits on it)
from .configs import RELEASE_ROPE_FLAGS
from .diffusers_layout import check_diffusers_layout
from .rope import RopeShift, ShiftedRotaryEmbedding
from .strengths import RELEASE_STRENGTHS, ConditionStrengths


def _lora_scale(attention_kwargs: dict | None) -> float:
    """The only attention argument this model takes is diffusers' LoRA ``scale``; anything else would be dropped
    silently, so it is refused."""
    if not attention_kwargs:
        return 1.0
    unknown = sorted(set(attention_kwargs) - {"scale"})
    if unknown:
        raise InputError(f"attention_kwargs takes only 'scale' (the LoRA scale); got {', '.join(unknown)}")
    return float(attention_kwargs["scale"])


def _set_key_padding(model, real: int, pad: int, device) -> None:
    """Tell the self-attention processors which keys are padding (None: there is none)."""
    if not getattr(model, "sequence_parallel_degree", 1) > 1:
        return
    mask = None
    if pad:
        mask = torch.zeros(1, 1, 1, real + pad, dtype=torch.bool, device=device)
        mask[..., :real] = True
    for block in model.blocks:
        block.attn1.processor.key_padding_mask = mask


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) patch grid -> (B, F*H*W, C) token sequence."""
    return x.flatten(2).transpose(1, 2)


class RealisDanceTransformer(WanTransformer3DModel):
    """Wan 2.1 DiT with pose injection, reference tokens and shifted RoPE (config keys as in the release)."""

    _skip_layerwise_casting_patterns = [
        *WanTransformer3DModel._skip_layerwise_casting_patterns,
        "add_conv_in",
        "attn_conv_in",
        "add_proj",
    ]
    # New parameter names relative to the Wan 2.1 base model.
    realisdance_modules = ("add_conv_in", "add_proj", "attn_conv_in")

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 36,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = 1280,
        added_kv_proj_dim: int | None = 5120,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        add_cond_in_dim: int = 32,
        attn_cond_in_dim: int = 16,
        shift_f: bool = RELEASE_ROPE_FLAGS["shift_f"],
        shift_h: bool = RELEASE_ROPE_FLAGS["shift_h"],
        shift_w: bool = RELEASE_ROPE_FLAGS["shift_w"],
    ) -> None:
        super().__init__(
            patch_size=patch_size,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm,
            eps=eps,
            image_dim=image_dim,
            added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        check_diffusers_layout(self)  # before our modules: a renamed diffusers module fails here, in one sentence
        inner_dim = num_attention_heads * attention_head_dim
        patch = tuple(patch_size)
        self.rope = ShiftedRotaryEmbedding(
            attention_head_dim, rope_max_seq_len, shift=RopeShift(frame=shift_f, height=shift_h, width=shift_w)
        )
        self.add_conv_in = torch.nn.Conv3d(add_cond_in_dim, inner_dim, kernel_size=patch, stride=patch)
        self.add_proj = torch.nn.Linear(inner_dim, inner_dim)
        self.attn_conv_in = torch.nn.Conv3d(attn_cond_in_dim, inner_dim, kernel_size=patch, stride=patch)
        self.initialize_new_modules()

    @torch.no_grad()
    def initialize_new_modules(self) -> None:
        """The paper's initialisation of a new model from Wan weights.

        ``add_proj`` starts at zero so the pose path is a no-op at step 0; the reference patchifier copies the
        noise patchifier's first 16 input channels (the noisy-latent channels of the I2V input).
        """
        torch.nn.init.zeros_(self.add_proj.weight)
        torch.nn.init.zeros_(self.add_proj.bias)
        channels = self.attn_conv_in.in_channels
        if self.patch_embedding.weight.device.type != "meta" and self.patch_embedding.in_channels >= channels:
            self.attn_conv_in.weight.copy_(self.patch_embedding.weight[:, :channels])
            self.attn_conv_in.bias.copy_(self.patch_embedding.bias)

    # -- input checks: a wrong tensor should fail here with a sentence, not inside a conv or an attention kernel --

    def _check_inputs(self, hidden_states, encoder_hidden_states, encoder_hidden_states_image, add_cond, attn_cond):
        cfg = self.config
        if hidden_states.ndim != 5 or hidden_states.shape[1] != cfg.in_channels:
            raise InputError(
                f"the model takes latents of shape (B, {cfg.in_channels}, T, H, W), got {tuple(hidden_states.shape)}"
            )
        p_t, p_h, p_w = cfg.patch_size
        _, _, frames, height, width = hidden_states.shape
        if frames % p_t or height % p_h or width % p_w:
            raise InputError(
                f"latent size {frames}x{height}x{width} is not divisible by the patch size {tuple(cfg.patch_size)}"
            )
        if add_cond is not None and (
            add_cond.shape[1] != cfg.add_cond_in_dim or add_cond.shape[2:] != hidden_states.shape[2:]
        ):
            raise InputError(
                f"pose latents must be (B, {cfg.add_cond_in_dim}, {frames}, {height}, {width}) to match this model "
                f"and the video latent, got {tuple(add_cond.shape)}"
                + (
                    "; this model takes SMPL-CS + hands (+ DWPose) streams of 16 channels each"
                    if add_cond.shape[1] % 16 == 0
                    else ""
                )
            )
        if attn_cond is not None:
            if attn_cond.ndim != 5 or attn_cond.shape[1] != cfg.attn_cond_in_dim or attn_cond.shape[2] != p_t:
                raise InputError(
                    f"the reference latent must be (B, {cfg.attn_cond_in_dim}, 1, H_r, W_r), "
                    f"got {tuple(attn_cond.shape)}"
                )
            if attn_cond.shape[3] % p_h or attn_cond.shape[4] % p_w:
                raise InputError(
                    f"reference latent size {tuple(attn_cond.shape[3:])} is not divisible by the patch size"
                )
        if encoder_hidden_states.shape[-1] != cfg.text_dim:
            raise InputError(
                f"text embeddings must have {cfg.text_dim} channels, got {encoder_hidden_states.shape[-1]}"
            )
        if cfg.image_dim is not None:
            if encoder_hidden_states_image is None:
                raise InputError("this I2V model needs CLIP image embeddings (B, 257, 1280) of the reference image")
            if encoder_hidden_states.shape[1] != TEXT_TOKENS:
                raise InputError(
                    f"I2V text embeddings must be padded or truncated to exactly {TEXT_TOKENS} tokens, "
                    f"got {encoder_hidden_states.shape[1]}"
                )
        elif encoder_hidden_states_image is not None:
            raise InputError("this T2V model has no CLIP image branch; do not pass image embeddings")

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        add_cond: torch.Tensor | None = None,
        attn_cond: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict | None = None,
        strengths: ConditionStrengths = RELEASE_STRENGTHS,
        sigma: float | None = None,
    ):
        """Flow velocity for the noisy video latent.

        hidden_states: (B, in_channels, T, H, W) noisy latent (+ the 20-channel I2V condition for I2V models).
        timestep: (B,) on the 0..1000 scale. encoder_hidden_states: (B, 512, text_dim) text embeddings.
        encoder_hidden_states_image: (B, 257, image_dim) CLIP penultimate states (I2V only).
        add_cond: (B, add_cond_in_dim, T, H, W) pose latents. attn_cond: (B, 16, 1, H_r, W_r) reference latent.
        strengths: pose / reference strengths and the pose's sigma range (``realisdance.model.strengths``; the
        release's defaults); ``sigma`` is the step's sigma, which that range is read against.
        """
        self._check_inputs(hidden_states, encoder_hidden_states, encoder_hidden_states_image, add_cond, attn_cond)
        lora_scale = _lora_scale(attention_kwargs)
        if USE_PEFT_BACKEND:  # as diffusers' Wan: a LoRA scale passed here weights the loaded PEFT adapters
            scale_lora_layers(self, lora_scale)
        try:
            pose_strength = strengths.pose_at(sigma)
            return self._forward(
                hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image,
                add_cond if pose_strength != 0.0 else None,
                attn_cond if strengths.uses_reference else None,
                return_dict, pose_strength, float(strengths.reference),
            )  # fmt: skip
        finally:
            if USE_PEFT_BACKEND:
                unscale_lora_layers(self, lora_scale)

    def _forward(
        self,
        hidden_states,
        timestep,
        encoder_hidden_states,
        encoder_hidden_states_image,
        add_cond,
        attn_cond,
        return_dict,
        pose_strength: float = 1.0,
        reference_strength: float = 1.0,
    ):
        batch, _, frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        video_grid = (frames // p_t, height // p_h, width // p_w)

        # Inputs arrive in whatever precision the caller keeps latents in (fp32 in the pipeline); the model computes
        # in the dtype of its weights, like the official pipeline which casts its inputs to bf16.
        dtype = self.patch_embedding.weight.dtype
        tokens = _tokens(self.patch_embedding(hidden_states.to(dtype)))
        if add_cond is not None:
            # One expression, so the pose tokens are freed at once instead of living through every block.
            pose_tokens = self.add_proj(_tokens(self.add_conv_in(add_cond.to(dtype))))
            if pose_strength != 1.0:
                pose_tokens = pose_tokens * pose_strength
            tokens = tokens + pose_tokens.to(tokens.dtype)
            del pose_tokens
        video_tokens = tokens.shape[1]
        reference_grid = None
        if attn_cond is not None:
            reference = self.attn_conv_in(attn_cond.to(dtype))
            reference_grid = tuple(reference.shape[2:])
            reference = _tokens(reference)
            if reference_strength != 1.0:
                reference = reference * reference_strength
            tokens = torch.cat([tokens, reference.to(tokens.dtype)], dim=1)
        # Split between processes (realisdance/parallel/sequence.py): a sequence that does not divide evenly gets
        # padding tokens at the end, masked out of self-attention and dropped after proj_out with the reference.
        pad = -tokens.shape[1] % getattr(self, "sequence_parallel_degree", 1)
        if pad and not getattr(self, "sequence_parallel_masks", True):
            raise InputError(
                f"ring attention splits the {tokens.shape[1]} tokens evenly over {self.sequence_parallel_degree} "
                "processes only; use Ulysses (--parallel ulysses), which pads and masks, or another size"
            )
        if pad:
            tokens = torch.nn.functional.pad(tokens, (0, 0, 0, pad))
        tokens = tokens.contiguous()
        rotary_emb = self.rope(video_grid, reference_grid, device=tokens.device, pad=pad)
        _set_key_padding(self, tokens.shape[1] - pad, pad, tokens.device)

        text_dtype = self.condition_embedder.text_embedder.linear_1.weight.dtype
        if encoder_hidden_states_image is not None:
            encoder_hidden_states_image = encoder_hidden_states_image.to(text_dtype)
        temb, timestep_proj, context, image_context = self.condition_embedder(
            timestep, encoder_hidden_states.to(text_dtype), encoder_hidden_states_image
        )
        timestep_proj = timestep_proj.unflatten(1, (6, -1))
        if image_context is not None:
            context = torch.cat([image_context, context], dim=1)  # CLIP tokens first: the processor splits on it

        # A step cache (realisdance/caching: TeaCache) may reuse the previous step's residual over all blocks
        # instead of running them; the sampler attaches one for a run and tells it the branch and step.
        step_cache = getattr(self, "step_cache", None)
        if step_cache is None:
            checkpointed = torch.is_grad_enabled() and self.gradient_checkpointing  # training: recompute in backward
            for block in self.blocks:  # inline, so each block's input is freed as soon as the block returns
                if checkpointed:
                    tokens = self._gradient_checkpointing_func(block, tokens, context, timestep_proj, rotary_emb)
                else:
                    tokens = block(tokens, context, timestep_proj, rotary_emb)
        else:

            def run_blocks(hidden: torch.Tensor) -> torch.Tensor:
                for block in self.blocks:
                    hidden = block(hidden, context, timestep_proj, rotary_emb)
                return hidden

            tokens = step_cache.run(run_blocks, tokens, timestep_proj, temb)

        shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        tokens = (self.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        tokens = self.proj_out(tokens)[:, :video_tokens]  # reference tokens leave here, before unpatchify

        out = tokens.reshape(batch, *video_grid, p_t, p_h, p_w, -1)
        out = out.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if not return_dict:
            return (out,)
        return Transformer2DModelOutput(sample=out)
