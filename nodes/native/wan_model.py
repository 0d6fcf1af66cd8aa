"""RealisDance-DiT as a variant of ComfyUI's own Wan 2.1 DiT (``comfy.ldm.wan.model.WanModel``).

The blocks, embeddings, head and attention are the host's, so its casting (``comfy.ops``), partial loading,
Dynamic VRAM, LoRA patching, block-replace patches and diffusion-model wrappers apply unchanged. What this
subclass adds is exactly the release's delta (spec 1.3-1.4):

- ``add_conv_in`` + ``add_proj`` patchify the pose latents and ADD them to the video tokens;
- ``attn_conv_in`` patchifies the reference latent; its tokens are APPENDED to the sequence, share attention and
  the timestep modulation, and are dropped before unpatchify;
- shifted RoPE: reference token (0, i, j) sits at (81 if shift_f, i + H if shift_h, j + W if shift_w), H and W
  being the VIDEO token grid (positions from ``realisdance.model.rope``, angles from the host's ``EmbedND``);
- timesteps are truncated to integers, as the release feeds ``int64(1000 * sigma)`` to its DiT
  (``realisdance.model.release_timestep``, the core's rule);
- pose / reference strengths and the pose's sigma range follow ``realisdance.model.ConditionStrengths``, the rule the
  core transformer applies, so both forwards take the same inputs.

The block loop is the host's contract: ``patches_replace["dit"][("double_block", i)]`` may replace a block, and every
``patches["double_block"]`` patch (ComfyUI's Uni3C camera control, for one) runs after each block with the model
input and the timestep embedding. The reference tokens sit AFTER the video tokens, so patches that add to the video
tokens from ``img_offset`` 0 line up with them.

The extra inputs arrive as keyword arguments built by ``RealisDanceWan.extra_conds`` from the conditioning:
``rd_pose`` (B, 16*streams, T, h, w) and ``rd_reference`` (B, 16, 1, h_r, w_r), both normalised latents, plus the
strengths and the sigma range in which the pose is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from realisdance.errors import InputError
from realisdance.model.rope import RopeShift, joint_positions
from realisdance.model.strengths import ConditionStrengths, release_timestep

from ..host import wan_dit_classes
from .step_cache import teacache_of

WanModel, sinusoidal_embedding_1d = wan_dit_classes()

# The release's flags (config.json of the released transformer): reference shifted on height and width only.
RELEASE_ROPE_SHIFT = RopeShift(frame=False, height=True, width=True)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) patch grid -> (B, F*H*W, C) token sequence."""
    return x.flatten(2).transpose(1, 2)


@dataclass(frozen=True)
class BlocksInput:
    """What every block (and every patch after one) sees besides the tokens."""

    x: torch.Tensor  # the model input (B, 36, T, h, w): after-block patches such as Uni3C read it
    e: torch.Tensor  # the timestep embedding (B, 1, dim)
    e0: torch.Tensor  # its 6-way projection (B, 1, 6, dim), the blocks' modulation
    freqs: torch.Tensor
    context: torch.Tensor
    context_img_len: int | None

    def after(self, patches: list, tokens: torch.Tensor, index: int, transformer_options: dict) -> torch.Tensor:
        """The host's ``patches["double_block"]`` after block ``index``: each gets the tokens and returns them."""
        for patch in patches:
            tokens = patch(
                {
                    "img": tokens,
                    "x": self.x,
                    "vec": self.e,
                    "block_index": index,
                    "img_offset": 0,  # video tokens first; the reference tokens follow them
                    "transformer_options": transformer_options,
                }
            )["img"]
        return tokens


class RealisDanceWanModel(WanModel):
    """Wan 2.1 DiT with the pose patchifier, the reference patchifier and the shifted RoPE of RealisDance-DiT."""

    def __init__(
        self,
        add_cond_in_dim: int = 32,
        attn_cond_in_dim: int = 16,
        rope_shift: RopeShift = RELEASE_ROPE_SHIFT,
        model_type: str = "i2v",
        device=None,
        dtype=None,
        operations=None,
        **wan_config,
    ):
        super().__init__(model_type=model_type, device=device, dtype=dtype, operations=operations, **wan_config)
        patch = tuple(self.patch_size)
        # The patchifiers are fp32 like the host's own patch_embedding (they see raw latents; tiny weights).
        self.add_conv_in = operations.Conv3d(
            add_cond_in_dim, self.dim, kernel_size=patch, stride=patch, device=device, dtype=torch.float32
        )
        self.add_proj = operations.Linear(self.dim, self.dim, device=device, dtype=dtype)
        self.attn_conv_in = operations.Conv3d(
            attn_cond_in_dim, self.dim, kernel_size=patch, stride=patch, device=device, dtype=torch.float32
        )
        self.rope_shift = rope_shift

    # -- inputs --

    def _check(self, x: torch.Tensor, pose, reference) -> None:
        _, _, frames, height, width = x.shape
        p_t, p_h, p_w = self.patch_size
        if frames % p_t or height % p_h or width % p_w:
            raise InputError(f"latent size {frames}x{height}x{width} is not divisible by the patch size")
        if pose is None or reference is None:
            raise InputError(
                "RealisDance-DiT was given no pose or reference latents: connect the conditioning of "
                "'RealisDance To Video' (both positive and negative) to the sampler."
            )
        expected = self.add_conv_in.in_channels
        if pose.shape[1] != expected or tuple(pose.shape[2:]) != (frames, height, width):
            raise InputError(
                f"the pose latents are {tuple(pose.shape[1:])} but this model takes ({expected}, {frames}, {height}, "
                f"{width}): {expected // 16} pose videos of the sampled latent's size (a DWPose stream is only for "
                "48-channel models; the sampler's latent must come from 'RealisDance To Video')."
            )
        if reference.ndim != 5 or reference.shape[2] != 1 or reference.shape[-2] % p_h or reference.shape[-1] % p_w:
            raise InputError(
                f"the reference latent must be (B, 16, 1, h, w) with even h, w; got {tuple(reference.shape)}"
            )

    def _rope(self, video_grid, reference_grid, device) -> torch.Tensor:
        positions = joint_positions(video_grid, reference_grid, self.rope_shift, device=device)
        return self.rope_embedder(positions.to(torch.float32).unsqueeze(0)).movedim(1, 2)

    @staticmethod
    def _strengths(kwargs: dict) -> ConditionStrengths:
        sigmas = kwargs.get("rd_pose_sigmas")
        return ConditionStrengths(
            pose=float(kwargs.get("rd_pose_strength", 1.0)),
            reference=float(kwargs.get("rd_reference_strength", 1.0)),
            pose_sigmas=None if sigmas is None else (float(sigmas[0]), float(sigmas[1])),
        )

    @staticmethod
    def _sigma(transformer_options: dict) -> float | None:
        sigmas = transformer_options.get("sigmas")
        return None if sigmas is None else float(sigmas.flatten()[0])

    # -- forward --

    def _forward(self, x, timestep, context, clip_fea=None, time_dim_concat=None, transformer_options=None, **kwargs):
        transformer_options = {} if transformer_options is None else transformer_options
        pose, reference = kwargs.get("rd_pose"), kwargs.get("rd_reference")
        self._check(x, pose, reference)
        p_t, p_h, p_w = self.patch_size
        _, _, frames, height, width = x.shape
        video_grid = (frames // p_t, height // p_h, width // p_w)
        strengths = self._strengths(kwargs)
        reference_grid = None
        if strengths.uses_reference:
            reference_grid = (1, reference.shape[-2] // p_h, reference.shape[-1] // p_w)
        freqs = self._rope(video_grid, reference_grid, x.device)
        return self.forward_orig(
            x,
            release_timestep(timestep),
            context,
            clip_fea=clip_fea,
            freqs=freqs,
            transformer_options=transformer_options,
            pose=pose,
            pose_strength=strengths.pose_at(self._sigma(transformer_options)),
            reference=reference if reference_grid is not None else None,
            reference_strength=strengths.reference,
        )

    def _run_blocks(self, holder: list, blocks_input: BlocksInput, transformer_options):
        """Every block, honouring the host's block-replace patches (``patches_replace["dit"]``) and running its
        ``patches["double_block"]`` after each block.

        The tokens come in a one-item list that is emptied here, so the caller holds no reference to the input and
        it is freed after the first block (0.5 GiB at the default job), as in an inline loop.
        """
        tokens = holder.pop()
        e0, freqs, context, context_img_len = (
            blocks_input.e0,
            blocks_input.freqs,
            blocks_input.context,
            blocks_input.context_img_len,
        )
        blocks_replace = transformer_options.get("patches_replace", {}).get("dit", {})
        after_block = transformer_options.get("patches", {}).get("double_block", [])
        transformer_options["total_blocks"] = len(self.blocks)
        transformer_options["block_type"] = "double"
        for index, block in enumerate(self.blocks):
            transformer_options["block_index"] = index
            replace = blocks_replace.get(("double_block", index))
            if replace is None:
                tokens = block(
                    tokens,
                    e=e0,
                    freqs=freqs,
                    context=context,
                    context_img_len=context_img_len,
                    transformer_options=transformer_options,
                )
            else:

                def original_block(args, block=block):
                    out = block(
                        args["img"],
                        context=args["txt"],
                        e=args["vec"],
                        freqs=args["pe"],
                        context_img_len=context_img_len,
                        transformer_options=args["transformer_options"],
                    )
                    return {"img": out}

                tokens = replace(
                    {"img": tokens, "txt": context, "vec": e0, "pe": freqs, "transformer_options": transformer_options},
                    {"original_block": original_block},
                )["img"]
            tokens = blocks_input.after(after_block, tokens, index, transformer_options)
        return tokens

    def forward_orig(
        self,
        x,
        t,
        context,
        clip_fea=None,
        freqs=None,
        transformer_options=None,
        pose=None,
        pose_strength=1.0,
        reference=None,
        reference_strength=1.0,
        **kwargs,
    ):
        transformer_options = {} if transformer_options is None else transformer_options
        tokens = self.patch_embedding(x.float()).to(x.dtype)
        grid_sizes = tokens.shape[2:]
        transformer_options["grid_sizes"] = grid_sizes
        tokens = _tokens(tokens)
        if pose is not None and pose_strength != 0.0:
            pose_tokens = _tokens(self.add_conv_in(pose.float())).to(x.dtype)
            tokens = tokens + self.add_proj(pose_tokens) * pose_strength
        video_tokens = tokens.shape[1]
        if reference is not None:
            reference_tokens = _tokens(self.attn_conv_in(reference.float())).to(x.dtype)
            tokens = torch.cat([tokens, reference_tokens * reference_strength], dim=1)

        e = self.time_embedding(sinusoidal_embedding_1d(self.freq_dim, t.flatten()).to(dtype=x.dtype))
        e = e.reshape(t.shape[0], -1, e.shape[-1])
        e0 = self.time_projection(e).unflatten(2, (6, self.dim))

        context = self.text_embedding(context)
        context_img_len = None
        if clip_fea is not None:
            if self.img_emb is not None:
                context = torch.cat([self.img_emb(clip_fea), context], dim=1)  # CLIP tokens first, as in Wan
            context_img_len = clip_fea.shape[-2]

        blocks_input = BlocksInput(x, e, e0, freqs, context, context_img_len)
        native_cache = teacache_of(transformer_options)
        step_cache = None if native_cache is None else native_cache.prepare(transformer_options)
        if step_cache is None:
            holder = [tokens]
            del tokens
            tokens = self._run_blocks(holder, blocks_input, transformer_options)
        else:  # TeaCache (the release's): may add the branch's last residual over all blocks instead of running them

            def run_blocks(hidden):
                return self._run_blocks([hidden], blocks_input, transformer_options)

            tokens = step_cache.run(run_blocks, tokens, e0, e)

        tokens = self.head(tokens, e)[:, :video_tokens]  # reference tokens leave here, before unpatchify
        return self.unpatchify(tokens, grid_sizes)
