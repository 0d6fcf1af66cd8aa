"""Write the UI workflows (``example_workflows/<name>.json``, the templates ComfyUI serves) from their API twins.

    python scripts/build_workflows.py            # (re)write every UI workflow
    python scripts/build_workflows.py --check    # exit 1 when a UI workflow is not what its API twin gives

Source of truth: ``workflows/api/<name>.api.json`` (the API prompt; ``_meta.title`` names a node on the canvas) and
``workflows/api/<name>.notes.json`` (``[{"title", "text", "column"}]``: Note nodes above the given column). The
layout is computed: one column per dependency depth, nodes stacked with heights from their sockets and widgets, so
nothing overlaps and the canvas opens at a zoom where the frontend draws text. Node schemas (input order, widget
kinds, output types) come from the pack as loaded by the test double, so the UI file is exactly what the frontend
would save for the API prompt.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
API_DIR = REPO / "workflows" / "api"
UI_DIR = REPO / "example_workflows"

NODE_WIDTH = 400
COLUMN_GAP = 60
ROW_GAP = 40
NOTE_HEIGHT = 260
TITLE_HEIGHT = 30
SLOT_HEIGHT = 22
WIDGET_HEIGHT = 26
FOOTER_HEIGHT = 40  # our nodes' one-line summary (js/realisdance.js) is drawn below the widgets
PREVIEW_HEIGHTS = {"LoadImage": 320, "LoadVideo": 320}  # image / video preview under the widget
VIEW = {"scale": 0.8, "offset": [60, 320]}  # the frontend stops drawing text below about 0.6


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _depths(prompt: dict) -> dict[str, int]:
    depths: dict[str, int] = {}

    def depth(node_id: str) -> int:
        if node_id not in depths:
            parents = [v[0] for v in prompt[node_id]["inputs"].values() if _is_link(v)]
            depths[node_id] = 1 + max((depth(p) for p in parents), default=-1)
        return depths[node_id]

    for node_id in prompt:
        depth(node_id)
    return depths


class _Schemas:
    """Node schemas of the pack and the core nodes the workflows use, from the test double."""

    def __enter__(self):
        sys.path.insert(0, str(REPO / "tests"))
        from comfy_double import install

        self._double = install(tempfile.mkdtemp(prefix="workflows-"))
        self._double.install_pack()
        self.classes = self._double.nodes.NODE_CLASS_MAPPINGS
        self.widget_type = self._double.io.WidgetInput
        return self

    def __exit__(self, *exc):
        from comfy_double import uninstall

        uninstall(self._double)

    def schema(self, class_type: str):
        return self.classes[class_type].GET_SCHEMA()


def _type_name(item) -> str:
    types = getattr(item, "types", None)
    if types:  # MultiType: the host joins the accepted types with ","
        return ",".join(t.io_type for t in types)
    return item.get_io_type() if hasattr(item, "get_io_type") else item.io_type


def build_ui(prompt: dict, notes: list[dict], schemas: _Schemas) -> dict:
    depths = _depths(prompt)
    links: list[list] = []
    out_links: dict[tuple[str, int], list[int]] = {}
    nodes = []
    column_y: dict[int, int] = {}
    for order, (node_id, node) in enumerate(sorted(prompt.items(), key=lambda kv: (depths[kv[0]], int(kv[0])))):
        schema = schemas.schema(node["class_type"])
        ui_inputs, widgets_values = [], []
        for item in schema.inputs:
            value = node["inputs"].get(item.id)
            is_widget = isinstance(item, schemas.widget_type)
            if is_widget:
                default = getattr(item, "default", None)
                widgets_values.append(default if _is_link(value) or value is None else value)
                if getattr(item, "control_after_generate", None):
                    widgets_values.append("fixed")
                if getattr(item, "upload", None):
                    widgets_values.append("image")
            if is_widget and not _is_link(value):
                continue
            entry = {"name": item.id, "type": _type_name(item), "link": None}
            if is_widget:
                entry["widget"] = {"name": item.id}
            if _is_link(value):
                link_id = len(links) + 1
                origin, slot = value[0], value[1]
                links.append([link_id, int(origin), slot, int(node_id), len(ui_inputs), None])
                out_links.setdefault((origin, slot), []).append(link_id)
                entry["link"] = link_id
            ui_inputs.append(entry)
        outputs = [
            {"name": o.display_name or _type_name(o), "type": _type_name(o), "slot_index": i, "links": []}
            for i, o in enumerate(schema.outputs)
        ]
        widgets = sum(isinstance(i, schemas.widget_type) for i in schema.inputs)
        sockets = max(len(ui_inputs), len(outputs))
        height = TITLE_HEIGHT + SLOT_HEIGHT * sockets + WIDGET_HEIGHT * widgets + 10
        height += PREVIEW_HEIGHTS.get(node["class_type"], 0)
        height += FOOTER_HEIGHT if node["class_type"].startswith("RealisDance") else 0
        column = depths[node_id]
        y = column_y.get(column, 0)
        column_y[column] = y + height + ROW_GAP
        ui_node = {
            "id": int(node_id),
            "type": node["class_type"],
            "pos": [column * (NODE_WIDTH + COLUMN_GAP), y],
            "size": [NODE_WIDTH, height],
            "flags": {},
            "order": order,
            "mode": 0,
            "inputs": ui_inputs,
            "outputs": outputs,
            "properties": {"Node name for S&R": node["class_type"]},
            "widgets_values": widgets_values,
        }
        title = node.get("_meta", {}).get("title")
        if title and title != node["class_type"]:
            ui_node["title"] = title
        nodes.append(ui_node)
    by_id = {str(n["id"]): n for n in nodes}
    for (origin, slot), ids in out_links.items():
        by_id[origin]["outputs"][slot]["links"] = ids
    for link in links:
        link[5] = by_id[str(link[1])]["outputs"][link[2]]["type"]
    next_id = max(int(k) for k in prompt) + 1
    for index, note in enumerate(notes):
        x = note["column"] * (NODE_WIDTH + COLUMN_GAP)
        nodes.append(
            {
                "id": next_id + index,
                "type": "Note",
                "pos": [x, -NOTE_HEIGHT - ROW_GAP],
                "size": [NODE_WIDTH, NOTE_HEIGHT],
                "flags": {},
                "order": len(nodes),
                "mode": 0,
                "inputs": [],
                "outputs": [],
                "properties": {},
                "widgets_values": [note["text"]],
                "title": note["title"],
            }
        )
    return {
        "last_node_id": max(n["id"] for n in nodes),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": VIEW},
        "version": 0.4,
    }


def expected_files() -> dict[Path, str]:
    files = {}
    with _Schemas() as schemas:
        for api_path in sorted(API_DIR.glob("*.api.json")):
            name = api_path.name[: -len(".api.json")]
            prompt = json.loads(api_path.read_text(encoding="utf-8"))
            notes_path = API_DIR / f"{name}.notes.json"
            notes = json.loads(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else []
            files[UI_DIR / f"{name}.json"] = json.dumps(build_ui(prompt, notes, schemas), indent=2) + "\n"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + str(path.relative_to(REPO)))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
