"""The ComfyUI double itself: a toy V3 pack loaded, validated and run like the host does it."""

from __future__ import annotations

import textwrap

import pytest
from comfy_double import PromptValidationError

pytest_plugins = ["comfy_double.fixtures"]  # the `comfy` fixture

TOY_PACK = """
from comfy_api.latest import ComfyExtension, io, ui


class Number(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="ToyNumber", inputs=[io.Int.Input("value", default=1, min=0, max=10)],
                         outputs=[io.Int.Output()])

    @classmethod
    def execute(cls, value):
        return io.NodeOutput(value)


class Scale(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="ToyScale", inputs=[io.Int.Input("value"), io.Float.Input("factor", max=4.0),
                                                     io.Combo.Input("mode", options=["round", "floor"])],
                         outputs=[io.Float.Output()])

    @classmethod
    async def execute(cls, value, factor, mode):
        return (value * factor,)


class Show(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="ToyShow", inputs=[io.Float.Input("number")], is_output_node=True)

    @classmethod
    def execute(cls, number):
        return io.NodeOutput(ui=ui.PreviewText(f"{number} from node {cls.hidden.unique_id}"))


class Toys(ComfyExtension):
    async def get_node_list(self):
        return [Number, Scale, Show]


def comfy_entrypoint():
    return Toys()
"""


@pytest.fixture
def toys(comfy, tmp_path):
    pack = tmp_path / "toy_pack"
    pack.mkdir()
    (pack / "__init__.py").write_text(textwrap.dedent(TOY_PACK))
    return comfy.load_pack(pack)


def _graph(value=3, factor=1.5, mode="round", scale_input=None):
    return {
        "1": {"class_type": "ToyNumber", "inputs": {"value": value}},
        "2": {"class_type": "ToyScale", "inputs": {"value": scale_input or ["1", 0], "factor": factor, "mode": mode}},
        "3": {"class_type": "ToyShow", "inputs": {"number": ["2", 0]}},
    }


def test_output_nodes_run_with_their_dependencies_in_order(comfy, toys):
    result = comfy.run(_graph())
    assert (result.status, result.executed) == ("success", ["1", "2", "3"])
    assert result.output("2") == 4.5
    assert result.ui["3"] == {"text": ("4.5 from node 3",)}


def test_validation_reports_the_hosts_error_types(comfy, toys):
    cases = {
        "value_bigger_than_max": (_graph(value=11), "1"),
        "value_smaller_than_min": (_graph(value=-1), "1"),
        "value_not_in_list": (_graph(mode="ceil"), "2"),
        "invalid_input_type": (_graph(factor="much"), "2"),
        "return_type_mismatch": (_graph(scale_input=["2", 0]), "2"),
        "bad_linked_input": (_graph(scale_input=["9", 0]), "2"),
    }
    for kind, (prompt, node) in cases.items():
        with pytest.raises(PromptValidationError) as caught:
            comfy.validate(prompt)
        assert caught.value.types(node) == [kind], kind
    with pytest.raises(PromptValidationError, match="prompt_no_outputs"):
        comfy.validate({"1": {"class_type": "ToyNumber", "inputs": {"value": 1}}})


def test_node_errors_and_interrupts_are_reported_not_raised(comfy, toys):
    # A node that never checks the flag runs to its end; the host stops before the next node.
    result = comfy.run(_graph(), on_node_start=lambda node: comfy.interrupt() if node == "2" else None)
    assert (result.status, result.error_node, list(result.outputs)) == ("interrupted", "3", ["1", "2"])
    result = comfy.run(_graph(), on_node_start=lambda node: 1 / 0 if node == "3" else None)
    assert (result.status, result.error_node, type(result.error)) == ("error", "3", ZeroDivisionError)
