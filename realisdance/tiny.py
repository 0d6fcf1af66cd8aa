"""A tiny random-weight copy of the release folder, for tests and the offline demo.

``build_tiny_release(folder)`` writes the OFFICIAL layout of ``theFoxofSky/RealisDance-DiT`` (``model_index.json``,
``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``image_encoder/``, ``scheduler/``) with the real
architectures at toy widths, so every loader runs its real code path: the plain transformers/diffusers classes
load each component, and the transformer folder looks like the release's (``_class_name`` "RealisDanceDiT").

Deterministic for a seed, a few seconds to build, under 5 MB: weights are stored in bf16 (the release's dtype for
the DiT and umT5; the VAE and CLIP too, to stay small); the loaders choose the compute dtype.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import torch

from .encoders.scheduler import WAN21_I2V_SCHEDULER_CONFIG
from .encoders.vae import WAN21_LATENTS_MEAN, WAN21_LATENTS_STD
from .errors import InputError

VARIANTS = {"I2V": "tiny-I2V", "T2V": "tiny-T2V", "native-I2V": "tiny-native-I2V"}
# Encoder widths that differ from the toy defaults below, per variant (they must match the DiT's text / image dims).
# The native variant's CLIP has ViT-H's width and head count (16), so loaders that read a CLIP file the way ComfyUI
# does (head count by width) build it as it was written.
ENCODER_WIDTHS = {
    "native-I2V": {"text_encoder": {"d_model": 4096}, "image_encoder": {"hidden_size": 1280, "num_attention_heads": 16}}
}
STORAGE_DTYPE = torch.bfloat16
# Bump when the folder contents change, so a cached demo folder can be recognised as stale.
TINY_FORMAT = 2

# umT5 at toy size: d_model equals the tiny DiT's text_dim (32).
TINY_TEXT_ENCODER = {
    "vocab_size": 64,
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "feed_forward_proj": "gated-gelu",
    "scalable_attention": True,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
    "tokenizer_class": "T5Tokenizer",
}

# CLIP ViT at toy width (hidden 24 = the tiny DiT's image_dim) but the real 224 px / patch 14 grid: 257 tokens.
TINY_IMAGE_ENCODER = {
    "hidden_size": 24,
    "intermediate_size": 48,
    "projection_dim": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 14,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}

# Wan 2.1 VAE structure (z_dim 16, 8x spatial / 4x temporal, real latent statistics) at base width 4 instead of 96.
TINY_VAE = {
    "base_dim": 4,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
    "latents_mean": list(WAN21_LATENTS_MEAN),
    "latents_std": list(WAN21_LATENTS_STD),
}

# Sentences the toy tokenizer is trained on; prompts outside this alphabet still work (unknown pieces -> <unk>).
TOKENIZER_CORPUS = (
    "A young woman in a red dress dances on a wooden stage.",
    "The man waves both hands, smiles and turns around slowly.",
    "A dancer jumps, spins and lands softly; the camera is static.",
    "High quality video, soft light, plain grey background.",
    "She raises her left arm, then her right arm, and bows.",
    "A child walks forward, claps twice and looks at the camera!",
    "Two people dance hip-hop in the street at night (4K, 16 fps).",
    "ballet, salsa, tango, waltz: every move is smooth and natural?",
)
TOKENIZER_VOCAB = 64


def _seed(seed: int, component: int) -> int:
    """Separate, non-overlapping seeds per component, so one component's draws never shift another's."""
    return seed * 16 + component


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def _write_transformer(folder: Path, variant: str, seed: int) -> dict:
    from safetensors.torch import save_file

    from .model import build_transformer, named_config

    config = named_config(VARIANTS[variant])
    torch.manual_seed(_seed(seed, 0))
    model = build_transformer(config)
    # A trained checkpoint has non-zero RealisDance modules (add_proj is zero only at training start), so draw all
    # three at random: the pose path must change the output for tests to see it.
    with torch.no_grad():
        for name in model.realisdance_modules:
            getattr(model, name).reset_parameters()
    state = {key: value.to(STORAGE_DTYPE).contiguous() for key, value in model.state_dict().items()}
    folder.mkdir(parents=True)
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    _write_json(
        folder / "config.json", {"_class_name": "RealisDanceDiT", "_diffusers_version": _diffusers_version(), **config}
    )
    return config


def _write_vae(folder: Path, seed: int) -> None:
    from diffusers import AutoencoderKLWan

    torch.manual_seed(_seed(seed, 1))
    vae = AutoencoderKLWan(**TINY_VAE)
    # nn.Module.to: diffusers' own .to() warns about fp32-only modules, of which this VAE has none.
    torch.nn.Module.to(vae, STORAGE_DTYPE).save_pretrained(str(folder))


def _write_text_encoder(folder: Path, seed: int, widths: dict) -> None:
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(_seed(seed, 2))
    model = UMT5EncoderModel(UMT5Config(**{**TINY_TEXT_ENCODER, **widths}))
    model.to(STORAGE_DTYPE).save_pretrained(str(folder))


def _write_image_encoder(folder: Path, seed: int, widths: dict) -> None:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(_seed(seed, 3))
    model = CLIPVisionModel(CLIPVisionConfig(**{**TINY_IMAGE_ENCODER, **widths}))
    model.to(STORAGE_DTYPE).save_pretrained(str(folder))


def _train_sentencepiece(seed: int) -> bytes:
    """A unigram model with umT5's special ids: <pad> 0, </s> 1, <unk> 2, no BOS."""
    import sentencepiece as spm

    spm.set_random_generator_seed(_seed(seed, 4))
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TOKENIZER_CORPUS),
        model_writer=model,  # in memory: a file path would be recorded inside the model and break determinism
        model_type="unigram",
        vocab_size=TOKENIZER_VOCAB,
        hard_vocab_limit=False,  # the corpus is tiny; take as many pieces as it supports, up to the limit
        character_coverage=1.0,
        normalization_rule_name="identity",  # umT5's nmt_nfkc table alone would be 240 kB
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def _write_tokenizer(folder: Path, seed: int) -> None:
    """spiece.model + the tokenizers-library tokenizer.json that ``AutoTokenizer`` loads (transformers 4 and 5)."""
    from sentencepiece import SentencePieceProcessor
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    proto = _train_sentencepiece(seed)
    # The processor API, not the protobuf message classes: those need the protobuf package, which nothing else needs.
    processor = SentencePieceProcessor(model_proto=proto)
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    if len(pieces) > TINY_TEXT_ENCODER["vocab_size"]:
        raise RuntimeError(f"tiny tokenizer has {len(pieces)} pieces, more than the tiny text encoder's vocabulary")

    # The umT5 fast tokenizer's pipeline: collapse spaces, metaspace pre-tokenizer, Unigram model, EOS appended.
    tokenizer = Tokenizer(Unigram(pieces, unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in ("<pad>", "</s>", "<unk>")])

    folder.mkdir(parents=True)
    (folder / "spiece.model").write_bytes(proto)
    tokenizer.save(str(folder / "tokenizer.json"))
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    _write_json(folder / "special_tokens_map.json", {**special, "additional_special_tokens": []})
    _write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "tokenizer_class": "T5Tokenizer",
            "extra_ids": 0,
            "additional_special_tokens": [],
            "clean_up_tokenization_spaces": False,
        },
    )


def _write_model_index(folder: Path, variant: str, seed: int) -> None:
    index = {
        "_class_name": "RealisDanceDiTPipeline",
        "_diffusers_version": _diffusers_version(),
        # The release names its own module path here, so DiffusionPipeline cannot load the folder (spec 10.11).
        "transformer": ["src.models.rd_dit", "RealisDanceDiT"],
        "vae": ["diffusers", "AutoencoderKLWan"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "scheduler": ["diffusers", WAN21_I2V_SCHEDULER_CONFIG["_class_name"]],
        # Underscore keys are ignored by diffusers; this one lets a cache recognise a tiny folder and its recipe.
        "_realisdance_tiny": {"variant": variant, "seed": seed, "format": TINY_FORMAT},
    }
    if variant.endswith("I2V"):
        index["image_encoder"] = ["transformers", "CLIPVisionModel"]
    _write_json(folder / "model_index.json", index)


def _populate(folder: Path, variant: str, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
        _write_transformer(folder / "transformer", variant, seed)
        _write_vae(folder / "vae", seed)
        widths = ENCODER_WIDTHS.get(variant, {})
        _write_text_encoder(folder / "text_encoder", seed, widths.get("text_encoder", {}))
        if variant.endswith("I2V"):
            _write_image_encoder(folder / "image_encoder", seed, widths.get("image_encoder", {}))
    _write_tokenizer(folder / "tokenizer", seed)
    _write_json(
        folder / "scheduler" / "scheduler_config.json",
        {**WAN21_I2V_SCHEDULER_CONFIG, "_diffusers_version": _diffusers_version()},
    )
    _write_model_index(folder, variant, seed)


def tiny_release_info(folder: str | Path) -> dict | None:
    """``{"variant", "seed", "format"}`` of a complete tiny folder built here, else None (e.g. a real release)."""
    index = Path(folder) / "model_index.json"
    if not index.is_file():
        return None
    try:
        return json.loads(index.read_text(encoding="utf-8")).get("_realisdance_tiny")
    except (OSError, json.JSONDecodeError):
        return None


def build_tiny_release(folder: str | Path, variant: str = "I2V", seed: int = 0, overwrite: bool = False) -> Path:
    """Write a tiny random-weight release folder (official layout) to ``folder`` and return its path.

    variant: "I2V" (tiny-I2V DiT + CLIP image encoder), "T2V" (tiny-T2V DiT, no image encoder) or "native-I2V"
    (the I2V layout at the text / time / CLIP widths ComfyUI's native Wan requires; about 50 MB).
    The folder is built next to its destination and moved into place at the end, so an interrupted build never
    leaves a half-written folder behind. An existing non-empty folder is replaced only with ``overwrite``.
    """
    if variant not in VARIANTS:
        raise InputError(f"unknown tiny release variant {variant!r}; use one of {', '.join(VARIANTS)}")
    target = Path(folder).expanduser()
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target} exists and is not empty; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        _populate(staging, variant, int(seed))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
