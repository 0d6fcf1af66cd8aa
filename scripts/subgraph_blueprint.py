"""The RealisDance generation as one node: a subgraph blueprint (``subgraphs/<name>.json``, which ComfyUI serves
from a pack's ``subgraphs/`` folder at ``/global_subgraphs``) made from a template's API twin.

The blueprint holds the template's model loaders, prompts, RealisDance To Video, the sampler and VAE Decode. What
the template reads from files (Load Image, Load Video, Get Video Components) becomes the blueprint's inputs
(reference, smpl, hamer images and pose_fps), the positive prompt's text becomes a promoted widget, and the decoded
frames its output, so users drop "RealisDance" between their own media nodes and Create Video.
"""

from __future__ import annotations

import copy
import uuid

# Template nodes that stay outside the blueprint: the media it is given and what is made of its frames.
OUTSIDE = {"LoadImage", "LoadVideo", "GetVideoComponents", "CreateVideo", "SaveVideo"}
INPUT_NODE, OUTPUT_NODE = -10, -20
NAMESPACE = uuid.UUID("6f1c2a57-3d5e-4a4b-9a51-5e7c0d2f8b10")  # makes the blueprint's id stable across builds


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _external_inputs(prompt: dict) -> list[dict]:
    """The blueprint's inputs: every link from a node outside into one inside, named by the input it feeds."""
    found = []
    for node_id, node in prompt.items():
        if node["class_type"] in OUTSIDE:
            continue
        for name, value in node["inputs"].items():
            if _is_link(value) and prompt[value[0]]["class_type"] in OUTSIDE:
                found.append({"name": name, "node": node_id, "input": name})
    return found


def build_blueprint(prompt: dict, name: str, description: str, build_ui, schemas) -> dict:
    """The blueprint file for the API ``prompt`` (``build_ui``: the UI builder of scripts/build_workflows.py)."""
    inside = {k: copy.deepcopy(v) for k, v in prompt.items() if v["class_type"] not in OUTSIDE}
    externals = _external_inputs(prompt)
    (text_node,) = [k for k, v in inside.items() if v["class_type"] == "CLIPTextEncode" and v["inputs"].get("text")]
    externals.append({"name": "prompt", "node": text_node, "input": "text"})  # promoted: typed on the node
    for item in externals:
        inside[item["node"]]["inputs"].pop(item["input"], None)
    (decode,) = [k for k, v in inside.items() if v["class_type"] in ("VAEDecode", "VAEDecodeTiled")]
    ui = build_ui(inside, [], schemas)
    nodes = {str(node["id"]): node for node in ui["nodes"]}
    links = [
        {"id": i, "origin_id": o, "origin_slot": os, "target_id": t, "target_slot": ts, "type": kind}
        for i, o, os, t, ts, kind in ui["links"]
    ]
    inputs = []
    for slot, item in enumerate(externals):
        node = nodes[item["node"]]
        schema_input = next(i for i in schemas.schema(node["type"]).inputs if i.id == item["input"])
        kind = schemas.type_name(schema_input)
        link_id = len(links) + 1
        entry = next((e for e in node["inputs"] if e["name"] == item["input"]), None)
        if entry is None:  # a widget fed by the blueprint's input
            entry = {"name": item["input"], "type": kind, "widget": {"name": item["input"]}, "link": None}
            node["inputs"].append(entry)
        entry["link"] = link_id
        target_slot = node["inputs"].index(entry)
        links.append({"id": link_id, "origin_id": INPUT_NODE, "origin_slot": slot, "target_id": node["id"],
                      "target_slot": target_slot, "type": kind})  # fmt: skip
        inputs.append({"id": str(uuid.uuid5(NAMESPACE, f"{name}/in/{item['name']}")), "name": item["name"],
                       "type": kind, "linkIds": [link_id], "pos": [-200, 40 + 20 * slot]})  # fmt: skip
    out_link = len(links) + 1
    nodes[decode]["outputs"][0]["links"] = [out_link]
    links.append({"id": out_link, "origin_id": int(decode), "origin_slot": 0, "target_id": OUTPUT_NODE,
                  "target_slot": 0, "type": "IMAGE"})  # fmt: skip
    outputs = [{"id": str(uuid.uuid5(NAMESPACE, f"{name}/out/frames")), "name": "frames", "type": "IMAGE",
                "linkIds": [out_link], "pos": [4000, 40]}]  # fmt: skip
    subgraph_id = str(uuid.uuid5(NAMESPACE, name))
    widths = max(node["pos"][0] + node["size"][0] for node in ui["nodes"])
    definition = {
        "id": subgraph_id,
        "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": ui["last_node_id"], "lastLinkId": len(links), "lastRerouteId": 0},
        "revision": 0,
        "config": {},
        "name": name,
        "inputNode": {"id": INPUT_NODE, "bounding": [-320, 0, 140, 40 + 20 * len(inputs)]},
        "outputNode": {"id": OUTPUT_NODE, "bounding": [widths + 80, 0, 120, 60]},
        "inputs": inputs,
        "outputs": outputs,
        "widgets": [],
        "nodes": ui["nodes"],
        "groups": [],
        "links": links,
        "extra": {},
        "category": "RealisDance",
        "description": description,
    }
    text = prompt[text_node]["inputs"]["text"]
    widget_inputs = [i for i in inputs if i["type"] in ("STRING", "FLOAT", "INT")]
    outer = {
        "id": 1,
        "type": subgraph_id,
        "pos": [0, 0],
        "size": [400, 260],
        "flags": {},
        "order": 0,
        "mode": 0,
        "inputs": [
            {
                "name": i["name"],
                "type": i["type"],
                "link": None,
                **({"widget": {"name": i["name"]}} if i in widget_inputs else {}),
            }
            for i in inputs
        ],  # fmt: skip
        "outputs": [{"name": "frames", "type": "IMAGE", "links": None}],
        "title": name,
        "properties": {"proxyWidgets": [["-1", i["name"]] for i in widget_inputs]},
        "widgets_values": [
            text if i["name"] == "prompt" else _default(prompt, externals, i["name"], schemas) for i in widget_inputs
        ],  # fmt: skip
    }
    return {
        "revision": 0,
        "last_node_id": 1,
        "last_link_id": 0,
        "nodes": [outer],
        "links": [],
        "version": 0.4,
        "definitions": {"subgraphs": [definition]},
        "extra": {},
    }


def _default(prompt: dict, externals: list[dict], name: str, schemas) -> object:
    item = next(e for e in externals if e["name"] == name)
    node = prompt[item["node"]]
    schema_input = next(i for i in schemas.schema(node["class_type"]).inputs if i.id == item["input"])
    return getattr(schema_input, "default", None)


def with_media(blueprint: dict, template_ui: dict, prompt: dict, node_id: int = 1000) -> dict:
    """A workflow that uses the blueprint as the template would: the template's media and video nodes around one
    blueprint node (for checking in a real frontend that the blueprint expands into a prompt that runs)."""
    outer = copy.deepcopy(blueprint["nodes"][0])
    outer["id"], outer["pos"] = node_id, [1400, 0]
    nodes = [copy.deepcopy(n) for n in template_ui["nodes"] if n["type"] in OUTSIDE]
    kept = {n["id"] for n in nodes}
    links = [list(link) for link in template_ui["links"] if link[1] in kept and link[3] in kept]
    kept_links = {link[0] for link in links}
    by_id = {n["id"]: n for n in nodes}
    for node in nodes:
        for entry in node.get("inputs", []):
            if entry.get("link") not in kept_links:
                entry["link"] = None
        for output in node.get("outputs", []):
            output["links"] = [i for i in output.get("links") or [] if i in kept_links]
    next_id = max(kept_links, default=0) + 1

    def connect(origin: int, origin_slot: int, target: dict, target_slot: int, kind: str) -> None:
        nonlocal next_id
        links.append([next_id, origin, origin_slot, target["id"], target_slot, kind])
        source = outer if origin == node_id else by_id[origin]
        source["outputs"][origin_slot]["links"] = [*(source["outputs"][origin_slot].get("links") or []), next_id]
        target["inputs"][target_slot]["link"] = next_id
        next_id += 1

    for slot, item in enumerate(_external_inputs(prompt)):
        origin, origin_slot = prompt[item["node"]]["inputs"][item["input"]]
        connect(int(origin), origin_slot, outer, slot, outer["inputs"][slot]["type"])
    for node_key, node in prompt.items():
        if node["class_type"] == "CreateVideo":
            target = by_id[int(node_key)]
            slot = next(i for i, e in enumerate(target["inputs"]) if e["name"] == "images")
            connect(node_id, 0, target, slot, "IMAGE")
    return {**blueprint, "nodes": [*nodes, outer], "links": links, "last_node_id": node_id, "last_link_id": next_id - 1}
