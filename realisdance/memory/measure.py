"""Measure the device memory of a forward without a GPU: count the bytes of live tensor storages op by op.

Used to check the planner's activation estimate (``benchmarks/plan_vs_measured.py`` and the tests). The model and
inputs live on the meta device, so even the 14B model at 576x1024x81 costs nothing to "run". Every storage an op
creates is tracked through a weak reference until Python frees it; the peak is taken right after each op, while its
inputs are still referenced, which is when a caching allocator holds both. Scratch memory inside fused kernels is not
visible here; attention is modelled as a fused kernel (output + fp32 log-sum-exp), like flash / memory-efficient SDPA
on a GPU, because the meta device would otherwise pick the math path with its (L x L) score matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def _storage_key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


class FusedAttentionMode(TorchFunctionMode):
    """Replace ``F.scaled_dot_product_attention`` by the allocations of a fused kernel: fp32 LSE, then the output."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            query = args[0] if args else kwargs["query"]
            value = args[2] if len(args) > 2 else kwargs["value"]
            lse = torch.empty(query.shape[:-1], dtype=torch.float32, device=query.device)
            out = torch.empty((*query.shape[:-1], value.shape[-1]), dtype=query.dtype, device=query.device)
            del lse  # returned by the kernel and dropped by the caller in inference
            return out
        return func(*args, **kwargs)


class LiveBytesMode(TorchDispatchMode):
    """Tracks bytes of storages created under it (``external`` tensors such as weights and inputs are not counted)."""

    def __init__(self, external: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self._external_refs = list(external)  # held so their storage keys cannot be reused
        self._external = {_storage_key(t) for t in self._external_refs}
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.live_bytes = 0
        self.peak_bytes = 0
        self.peak_op = ""

    def _sweep(self) -> None:
        for key in [k for k, (ref, _) in self._live.items() if ref.expired()]:
            self.live_bytes -= self._live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._sweep()
        for leaf in tree_leaves(out):
            if not isinstance(leaf, torch.Tensor):
                continue
            storage = leaf.untyped_storage()
            key = storage._cdata
            if key in self._external or key in self._live:
                continue
            self._live[key] = (StorageWeakRef(storage), storage.nbytes())
            self.live_bytes += storage.nbytes()
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes, self.peak_op = self.live_bytes, str(func)
        return out


@dataclass(frozen=True)
class Measurement:
    peak_bytes: int  # activations only: weights and inputs excluded
    peak_op: str


def measure_forward(model: torch.nn.Module, inputs: dict, fused_attention: bool = True, setup=None) -> Measurement:
    """Peak bytes of live activations during ``model(**inputs)`` (any device; meta costs nothing).

    ``setup`` runs under the tracker first: what it allocates and keeps (e.g. cached RoPE tables) counts too.
    """
    external = [*model.parameters(), *model.buffers()]
    external += [v for v in inputs.values() if isinstance(v, torch.Tensor)]
    tracker = LiveBytesMode(external)
    with torch.no_grad(), FusedAttentionMode() if fused_attention else _nothing(), tracker:
        if setup is not None:
            setup()
        result = model(**inputs)
        del result
    return Measurement(tracker.peak_bytes, tracker.peak_op)


def measure_call(function, external: Iterable[torch.Tensor] = (), fused_attention: bool = True) -> Measurement:
    """Peak bytes of the storages created while ``function()`` runs (those of ``external`` tensors excluded)."""
    tracker = LiveBytesMode(external)
    with torch.no_grad(), FusedAttentionMode() if fused_attention else _nothing(), tracker:
        result = function()
        del result
    return Measurement(tracker.peak_bytes, tracker.peak_op)


def cache_rope_on_meta(model, video_grid, reference_grid):
    """A ``setup`` for meta runs: the RoPE tables (computed on the CPU, moved to meta) put in the model's cache.

    The RoPE module reads positions back to check its table limit, which a meta tensor cannot do.
    """

    def setup():
        cos, sin = model.rope(video_grid, reference_grid, device="cpu")
        key = (tuple(video_grid), None if reference_grid is None else tuple(reference_grid), model.rope.shift)
        model.rope._last = ((*key, torch.device("meta"), 0), (cos.to("meta"), sin.to("meta")))  # 0: no padding

    return setup


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
