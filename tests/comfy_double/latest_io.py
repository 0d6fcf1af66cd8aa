"""Double of ``comfy_api.latest.io``: the V3 node API, reduced to what the pack uses.

Our own behavioural re-implementation (ComfyUI is GPL-3 and is not copied here). Only keyword arguments that also
exist in ComfyUI 0.3.64 are accepted, so code that passes against the double runs on old and new hosts; an
unknown keyword is a TypeError here, as it is there. ``node_info`` renders a node the way ``/object_info`` does,
for the contract test against a real host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"


class UploadType(str, Enum):
    image = "image_upload"
    video = "video_upload"


def _pruned(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# ---- inputs and outputs ----


class Input:
    """A socket input (its value comes from a link)."""

    io_type = "*"

    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = dict(extra_dict or {})

    def as_dict(self) -> dict[str, Any]:
        """The options dict of this input in /object_info."""
        return _pruned({"display_name": self.display_name, "tooltip": self.tooltip, "lazy": self.lazy}) | _pruned(
            self.extra_dict
        )

    def convert(self, value):
        """A widget value as the host passes it to execute(); raises ValueError/TypeError when it cannot."""
        return value


class WidgetInput(Input):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        socketless=None,
        force_input=None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
        self.default = default
        self.socketless = socketless
        self.force_input = force_input

    def as_dict(self):
        return super().as_dict() | _pruned(
            {"default": self.default, "socketless": self.socketless, "forceInput": self.force_input}
        )


class _Bounded(WidgetInput):
    min = max = None

    def check_bounds(self, value):
        if self.min is not None and value < self.min:
            raise OverflowError(f"value_smaller_than_min: {value} < {self.min}")
        if self.max is not None and value > self.max:
            raise OverflowError(f"value_bigger_than_max: {value} > {self.max}")
        return value


class IntInput(_Bounded):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        min=None,
        max=None,
        step=None,
        control_after_generate=None,
        display_mode=None,
        socketless=None,
        force_input=None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input, extra_dict)
        self.min, self.max, self.step = min, max, step
        self.control_after_generate = control_after_generate
        self.display_mode = display_mode

    def as_dict(self):
        display = getattr(self.display_mode, "value", self.display_mode)
        extra = {"min": self.min, "max": self.max, "step": self.step, "display": display}
        return super().as_dict() | _pruned(extra | {"control_after_generate": self.control_after_generate})

    def convert(self, value):
        if isinstance(value, bool):
            raise TypeError("a boolean is not an INT")
        return self.check_bounds(int(value))


class FloatInput(_Bounded):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        min=None,
        max=None,
        step=None,
        round=None,
        display_mode=None,
        socketless=None,
        force_input=None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input, extra_dict)
        self.min, self.max, self.step, self.round = min, max, step, round
        self.display_mode = display_mode

    def as_dict(self):
        display = getattr(self.display_mode, "value", self.display_mode)
        extra = {"min": self.min, "max": self.max, "step": self.step, "round": self.round, "display": display}
        return super().as_dict() | _pruned(extra)

    def convert(self, value):
        if isinstance(value, bool):
            raise TypeError("a boolean is not a FLOAT")
        return self.check_bounds(float(value))


class StringInput(WidgetInput):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        multiline=False,
        placeholder=None,
        default=None,
        dynamic_prompts=None,
        socketless=None,
        force_input=None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input, extra_dict)
        self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

    def as_dict(self):
        extra = {"multiline": self.multiline, "placeholder": self.placeholder, "dynamicPrompts": self.dynamic_prompts}
        return super().as_dict() | _pruned(extra)

    def convert(self, value):
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a STRING")
        return value


class BooleanInput(WidgetInput):
    def __init__(
        self,
        id,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        label_on=None,
        label_off=None,
        socketless=None,
        force_input=None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input, extra_dict)
        self.label_on, self.label_off = label_on, label_off

    def as_dict(self):
        return super().as_dict() | _pruned({"label_on": self.label_on, "label_off": self.label_off})

    def convert(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not a BOOLEAN")
        return value


class ComboInput(WidgetInput):
    def __init__(
        self,
        id,
        options=None,
        display_name=None,
        optional=False,
        tooltip=None,
        lazy=None,
        default=None,
        control_after_generate=None,
        upload=None,
        image_folder=None,
        socketless=None,
        extra_dict=None,
    ):
        if isinstance(options, type) and issubclass(options, Enum):
            options = [member.value for member in options]
        if isinstance(default, Enum):
            default = default.value
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, extra_dict)
        self.options = list(options) if options is not None else []
        self.control_after_generate = control_after_generate
        self.upload = upload
        self.image_folder = image_folder

    def as_dict(self):
        # The real host lists "multiselect": false on every V3 combo (checked by tests/host's contract test).
        return (
            super().as_dict()
            | {"multiselect": False}
            | _pruned({"options": self.options, "control_after_generate": self.control_after_generate})
        )

    def convert(self, value):
        if value not in self.options:
            raise LookupError(f"value_not_in_list: {value!r} not in {self.options}")
        return value


class Output:
    io_type = "*"

    def __init__(self, id=None, display_name=None, tooltip=None, is_output_list=False):
        self.id = id
        self.display_name = display_name or id
        self.tooltip = tooltip
        self.is_output_list = is_output_list


class ComfyType:
    """A socket type: ``io_type`` plus its ``Input`` / ``Output`` classes."""

    io_type = "*"
    Input = Input
    Output = Output


def _comfy_type(io_type: str, input_base: type[Input] = Input) -> type[ComfyType]:
    bound_input = type("Input", (input_base,), {"io_type": io_type})
    bound_output = type("Output", (Output,), {"io_type": io_type})
    members = {"io_type": io_type, "Input": bound_input, "Output": bound_output}
    return type(io_type.title().replace("_", ""), (ComfyType,), members)


def Custom(io_type: str) -> type[ComfyType]:  # noqa: N802 (ComfyUI's name)
    return _comfy_type(io_type)


class MultiType:
    """An input that accepts several socket types; its io_type is their names joined with "," (host rule)."""

    class Input(Input):
        def __init__(self, id, types, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None):
            if not isinstance(id, str):
                raise TypeError("the double supports MultiType.Input with a string id only")
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            names = [t.io_type for t in types]
            self.io_type = ",".join(dict.fromkeys(names))


Boolean = _comfy_type("BOOLEAN", BooleanInput)
Int = _comfy_type("INT", IntInput)
Float = _comfy_type("FLOAT", FloatInput)
String = _comfy_type("STRING", StringInput)
Combo = _comfy_type("COMBO", ComboInput)
Image = _comfy_type("IMAGE")
Mask = _comfy_type("MASK")
Latent = _comfy_type("LATENT")
Conditioning = _comfy_type("CONDITIONING")
Model = _comfy_type("MODEL")
Clip = _comfy_type("CLIP")
Vae = _comfy_type("VAE")
ClipVision = _comfy_type("CLIP_VISION")
ClipVisionOutput = _comfy_type("CLIP_VISION_OUTPUT")
Video = _comfy_type("VIDEO")
Audio = _comfy_type("AUDIO")
AnyType = _comfy_type("*")


# ---- schema, node, output ----


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False
    search_aliases: list[str] = field(default_factory=list)  # v0.28 and later (the double follows the newest host)

    def finalize(self) -> None:
        """What the host adds: hidden prompt/extra_pnginfo for output nodes, ids for outputs without one."""
        if self.is_output_node:
            self.hidden += [h for h in (Hidden.prompt, Hidden.extra_pnginfo) if h not in self.hidden]
        for index, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{index}_{output.io_type}_"

    def validate(self) -> None:
        for kind, ids in (("Input", [i.id for i in self.inputs]), ("Output", [o.id for o in self.outputs])):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind} ids must be unique, but {duplicates} are not.")


class NodeOutput:
    def __init__(self, *args, ui=None, expand=None, block_execution=None):
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self):
        return self.args or None

    def __getitem__(self, index):
        return self.args[index]


class HiddenHolder:
    def __init__(self, values: dict[Hidden, Any] | None = None):
        values = values or {}
        self.unique_id = values.get(Hidden.unique_id)
        self.prompt = values.get(Hidden.prompt)
        self.extra_pnginfo = values.get(Hidden.extra_pnginfo)
        self.dynprompt = values.get(Hidden.dynprompt)


class ComfyNode:
    """Base of V3 nodes: classmethods only; the host runs a per-execution subclass with ``hidden`` set."""

    RELATIVE_PYTHON_MODULE: str | None = None
    SCHEMA: Schema | None = None
    hidden: HiddenHolder | None = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802 (ComfyUI's name)
        for name in ("define_schema", "execute"):
            if getattr(cls, name).__func__ is getattr(ComfyNode, name).__func__:
                raise TypeError(f"No {name} function was defined for node class {cls.__name__}.")
        schema = cls.define_schema()
        schema.finalize()
        schema.validate()
        cls.SCHEMA = schema
        return schema


def node_info(cls: type[ComfyNode]) -> dict[str, Any]:
    """The node as ``GET /object_info`` describes it (the shape a contract test compares)."""
    schema = cls.GET_SCHEMA()
    inputs: dict[str, dict] = {"required": {}}
    for item in schema.inputs:
        inputs.setdefault("optional" if item.optional else "required", {})[item.id] = (item.io_type, item.as_dict())
    if schema.hidden:
        inputs["hidden"] = {h.name: (h.value,) for h in schema.hidden}
    return {
        "input": inputs,
        "input_order": {key: list(value) for key, value in inputs.items()},
        "output": [o.io_type for o in schema.outputs],
        "output_is_list": [o.is_output_list for o in schema.outputs],
        "output_name": [o.display_name or o.io_type for o in schema.outputs],
        "output_tooltips": [o.tooltip for o in schema.outputs],
        "name": schema.node_id,
        "display_name": schema.display_name,
        "description": schema.description,
        "python_module": cls.RELATIVE_PYTHON_MODULE or "nodes",
        "category": schema.category,
        "output_node": schema.is_output_node,
        "deprecated": schema.is_deprecated,
        "experimental": schema.is_experimental,
        "search_aliases": schema.search_aliases or None,
    }
