"""LoRA files on the RealisDance-DiT transformer: read in the formats people have, merged into the weights or kept
as PEFT adapters.

    from realisdance.lora import LoraSpec, apply_loras
    apply_loras(transformer, [LoraSpec("lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors", 1.0)])
"""

from .apply import LORA_MODES, apply_loras, check_lora_fits, merge_lora
from .reading import LoraFile, read_lora
from .spec import LoraSpec, parse_lora_argument

__all__ = [
    "LORA_MODES",
    "LoraFile",
    "check_lora_fits",
    "LoraSpec",
    "apply_loras",
    "merge_lora",
    "parse_lora_argument",
    "read_lora",
]
