"""One node list: the old pipeline-path nodes stay registered for saved workflows but are deprecated (hidden from
ComfyUI's node search, badged on the canvas, their replacement named), no bundled template uses them, and no two
current nodes have near-identical names."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

pytest_plugins = ["comfy_double.fixtures"]

REPO = Path(__file__).resolve().parents[1]
OLD_NODES = {
    "RealisDanceModelLoader",
    "RealisDanceTextEncoderLoader",
    "RealisDanceClipVisionLoader",
    "RealisDanceVAELoader",
    "RealisDanceTextEncode",
    "RealisDanceConditions",
    "RealisDanceSampler",
    "RealisDanceDecode",
}


def test_the_old_nodes_are_deprecated_with_their_replacement_named(comfy_pack):
    from comfy_double.latest_io import node_info

    deprecated = {node_id for node_id, cls in comfy_pack.nodes.items() if cls.GET_SCHEMA().is_deprecated}
    assert deprecated == OLD_NODES
    for node_id in OLD_NODES:
        info = node_info(comfy_pack.node(node_id))
        assert info["deprecated"] is True
        assert info["display_name"].endswith(" (deprecated)")
        assert info["description"].startswith("Deprecated: use ")


def test_no_bundled_template_uses_a_deprecated_node():
    for path in sorted((REPO / "workflows" / "api").glob("*.api.json")):
        used = {node["class_type"] for node in json.loads(path.read_text()).values()}
        assert not used & OLD_NODES, (path.name, used & OLD_NODES)
    for path in sorted((REPO / "example_workflows").glob("*.json")):
        used = {node["type"] for node in json.loads(path.read_text())["nodes"]}
        assert not used & OLD_NODES, (path.name, used & OLD_NODES)


def test_no_two_current_nodes_have_near_identical_names(comfy_pack):
    names = sorted(
        name
        for node_id, name in comfy_pack.display_names.items()
        if not comfy_pack.node(node_id).GET_SCHEMA().is_deprecated
    )
    for index, name in enumerate(names):
        for other in names[index + 1 :]:
            assert difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio() < 0.85, (name, other)
