"""A tiny executor for API-format prompts: ``{id: {"class_type": str, "inputs": {name: value | [id, index]}}}``.

Validation follows the host's rules and error type names: required inputs present, links point at an existing
node output of a matching type, combo values among the options (as hosts from v0.28 on check V3 combos; 0.3.64
did not), numbers converted and within min/max. Execution
runs the dependencies of the target nodes (the output nodes by default) in order, clears the interrupt flag when
a prompt starts and checks it before every node, as the host does.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from . import latest_io as io
from . import model_management, utils


class PromptValidationError(Exception):
    """The host's HTTP 400: ``node_errors`` maps node id -> [{"type", "message", "input_name"}]."""

    def __init__(self, node_errors: dict[str, list[dict]]):
        self.node_errors = node_errors
        details = "; ".join(f"{node}: {e['type']} ({e['message']})" for node, errs in node_errors.items() for e in errs)
        super().__init__(f"prompt_outputs_failed_validation: {details}")

    def types(self, node_id: str) -> list[str]:
        return [e["type"] for e in self.node_errors.get(node_id, [])]


@dataclass
class PromptResult:
    status: str  # "success", "error" or "interrupted"
    outputs: dict[str, tuple] = field(default_factory=dict)  # node id -> output values, for every executed node
    ui: dict[str, Any] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    error: BaseException | None = None
    error_node: str | None = None

    def output(self, node_id: str, index: int = 0):
        return self.outputs[node_id][index]

    def raise_error(self) -> PromptResult:
        """Re-raise the node's exception, if any (so pytest shows it); returns self otherwise."""
        if self.error is not None:
            raise self.error
        return self


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _types_match(received: str, expected: str) -> bool:
    if "*" in (received, expected):
        return True
    return bool(set(received.split(",")) & set(expected.split(",")))


def validate_prompt(prompt: dict, node_classes: dict[str, type], targets: list[str] | None = None):
    """Check the prompt; returns (targets, {node_id: converted widget values}); raises PromptValidationError."""
    errors: dict[str, list[dict]] = {}
    converted: dict[str, dict] = {}

    def fail(node_id, kind, message, input_name=None):
        errors.setdefault(node_id, []).append({"type": kind, "message": message, "input_name": input_name})

    schemas = {}
    for node_id, node in prompt.items():
        cls = node_classes.get(node.get("class_type"))
        if cls is None:
            fail(node_id, "invalid_prompt", f"unknown class_type {node.get('class_type')!r}")
            continue
        schemas[node_id] = cls.GET_SCHEMA()
    if targets is None:
        targets = [node_id for node_id, schema in schemas.items() if schema.is_output_node]
    if not targets:
        fail("prompt", "prompt_no_outputs", "the prompt has no output node and no targets were given")
    for target in targets:
        if target not in prompt:
            fail(target, "invalid_prompt", f"target node {target!r} is not in the prompt")
    if "prompt" in errors or any(t not in prompt for t in targets):
        raise PromptValidationError(errors)
    for node_id, schema in schemas.items():
        values = prompt[node_id].get("inputs", {})
        converted[node_id] = {}
        for item in schema.inputs:
            if item.id not in values:
                if not item.optional:
                    fail(node_id, "required_input_missing", "Required input is missing", item.id)
                continue
            value = values[item.id]
            if _is_link(value):
                source, index = value
                if source not in schemas:
                    fail(node_id, "bad_linked_input", f"links to missing node {source!r}", item.id)
                elif index >= len(schemas[source].outputs):
                    fail(node_id, "bad_linked_input", f"node {source} has no output {index}", item.id)
                elif not _types_match(schemas[source].outputs[index].io_type, item.io_type):
                    received = schemas[source].outputs[index].io_type
                    fail(node_id, "return_type_mismatch", f"{received} is not {item.io_type}", item.id)
                continue
            if not isinstance(item, io.WidgetInput):
                fail(node_id, "invalid_input_type", f"{item.io_type} input needs a link, got {value!r}", item.id)
                continue
            try:
                converted[node_id][item.id] = item.convert(value)
            except OverflowError as err:
                kind, _, message = str(err).partition(": ")
                fail(node_id, kind, message, item.id)
            except LookupError as err:
                fail(node_id, "value_not_in_list", str(err).partition(": ")[2], item.id)
            except (TypeError, ValueError) as err:
                fail(node_id, "invalid_input_type", str(err), item.id)
    if errors:
        raise PromptValidationError(errors)
    return targets, converted


def _normalise(result) -> io.NodeOutput:
    if result is None:
        return io.NodeOutput()
    if isinstance(result, io.NodeOutput):
        return result
    if isinstance(result, tuple):
        return io.NodeOutput(*result)
    if isinstance(result, dict):
        return io.NodeOutput(*result.get("result", ()), ui=result.get("ui"))
    raise TypeError(f"Invalid return type from node: {type(result)}")


def _signatures(prompt: dict) -> dict[str, str]:
    """Per node: its class and inputs with links replaced by the linked node's signature (what the host's cache
    compares: a node whose signature did not change since the last prompt is not executed again)."""
    done: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id not in done:
            node = prompt[node_id]
            inputs = {
                name: ["link", signature(value[0]), value[1]] if _is_link(value) else value
                for name, value in node.get("inputs", {}).items()
            }
            done[node_id] = json.dumps([node["class_type"], inputs], sort_keys=True, default=repr)
        return done[node_id]

    for node_id in prompt:
        signature(node_id)
    return done


def run_prompt(
    prompt: dict,
    node_classes: dict[str, type],
    targets: list[str] | None = None,
    on_node_start: Callable[[str], None] | None = None,
    cache: dict | None = None,
) -> PromptResult:
    """Validate, then execute; node exceptions become ``status="error"`` (``InterruptProcessingException``:
    ``"interrupted"``). ``on_node_start(node_id)`` runs after the host's own interrupt check, just before a node.
    ``cache`` (a dict kept by the caller across prompts): outputs of nodes whose signature is unchanged are reused
    instead of executed, as the host's cache does when a prompt is queued again."""
    targets, widgets = validate_prompt(prompt, node_classes, targets)
    signatures = _signatures(prompt) if cache is not None else {}
    result = PromptResult("success")
    model_management.interrupt_current_processing(False)
    visiting: set[str] = set()
    started: list[str] = []

    def run(node_id: str) -> tuple:
        if node_id in result.outputs:
            return result.outputs[node_id]
        if node_id in visiting:
            raise RuntimeError(f"dependency cycle through node {node_id}")
        if cache is not None and signatures[node_id] in cache:
            result.outputs[node_id] = cache[signatures[node_id]]
            return result.outputs[node_id]
        visiting.add(node_id)
        node = prompt[node_id]
        kwargs = dict(widgets[node_id])
        for name, value in node.get("inputs", {}).items():
            if _is_link(value):
                kwargs[name] = run(value[0])[value[1]]
        cls = node_classes[node["class_type"]]
        hidden = io.HiddenHolder({io.Hidden.unique_id: node_id, io.Hidden.prompt: prompt})
        clone = type(cls.__name__, (cls,), {"hidden": hidden})  # the host runs a fresh subclass per execution
        started.append(node_id)
        model_management.throw_exception_if_processing_interrupted()
        if on_node_start is not None:
            on_node_start(node_id)
        utils.EXECUTING_NODE = node_id
        try:
            # ComfyUI executes every node under inference mode; doing the same catches code that needs autograd.
            with torch.inference_mode():
                value = clone.execute(**kwargs)
                if inspect.iscoroutine(value):
                    value = asyncio.run(value)
        finally:
            utils.EXECUTING_NODE = None
        output = _normalise(value)
        result.outputs[node_id] = output.args
        if cache is not None:
            cache[signatures[node_id]] = output.args
        if output.ui is not None:
            result.ui[node_id] = output.ui.as_dict() if hasattr(output.ui, "as_dict") else output.ui
        result.executed.append(node_id)
        return output.args

    for target in targets:
        try:
            run(target)
        except model_management.InterruptProcessingException as err:
            result.status, result.error = "interrupted", err
            result.error_node = started[-1] if started else None
            break
        except Exception as err:  # the host reports any node exception as execution_error
            result.status, result.error = "error", err
            result.error_node = started[-1] if started else None
            break
    return result
