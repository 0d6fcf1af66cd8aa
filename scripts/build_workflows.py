"""Write the UI workflows (``example_workflows/<name>.json``, the templates ComfyUI serves) from their API twins.

    python scripts/build_workflows.py            # (re)write every UI workflow
    python scripts/build_workflows.py --check    # exit 1 when a UI workflow is not what its API twin gives

Each UI workflow gets its template thumbnail ``<name>.jpg`` beside it, drawn from the graph.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from subgraph_blueprint import build_blueprint  # noqa: E402 (beside this script)

API_DIR = REPO / "workflows" / "api"
UI_DIR = REPO / "example_workflows"
SUBGRAPH_DIR = REPO / "subgraphs"  # subgraph blueprints, served by ComfyUI from a pack's subgraphs/ folder
# blueprint file name -> (the API twin it is made of, its description)
BLUEPRINTS = {
    "RealisDance Pose to Video.json": (
        "reference_pose_to_video",
        "RealisDance-DiT as one node: reference image, SMPL-CS body and hand pose frames (and their fps) in, the "
        "animated frames out, with the release's preset (40 steps, CFG 2). Models as in the template.",
    ),
}
# Model files the templates name -> their models/ folder and download address (ComfyUI's frontend lists a missing
# file with these from a node's properties.models before Run); files users make themselves have no address.
MODEL_SOURCES = json.loads((REPO / "workflows" / "model_sources.json").read_text(encoding="utf-8"))

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

    @staticmethod
    def type_name(item) -> str:
        """A socket's type as the frontend writes it."""
        types = getattr(item, "types", None)
        if types:  # MultiType: the host joins the accepted types with ","
            return ",".join(t.io_type for t in types)
        return item.get_io_type() if hasattr(item, "get_io_type") else item.io_type


def _models_property(widgets_values: list) -> dict:
    """``{"models": [{"name", "directory", "url"?}]}`` for the model files among a node's widget values."""
    models = []
    for value in widgets_values:
        source = MODEL_SOURCES.get(value) if isinstance(value, str) else None
        if source is not None:
            entry = {"name": value, "directory": source["directory"]}
            if "url" in source:
                entry["url"] = source["url"]
            models.append(entry)
    return {"models": models} if models else {}


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
            entry = {"name": item.id, "type": schemas.type_name(item), "link": None}
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
            {"name": o.display_name or schemas.type_name(o), "type": schemas.type_name(o), "slot_index": i, "links": []}
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
            "properties": {"Node name for S&R": node["class_type"], **_models_property(widgets_values)},
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


THUMBNAIL_SIZE = (768, 432)
COLOURS = {"RealisDance": (232, 93, 117), "Note": (90, 90, 70), "other": (78, 205, 196)}


def thumbnail(ui: dict):
    """The template browser's picture: the graph's nodes and links, titled, on the canvas colour (Pillow only)."""
    from PIL import Image, ImageDraw, ImageFont

    nodes = [n for n in ui["nodes"] if n["type"] != "Note"]
    left = min(n["pos"][0] for n in nodes)
    top = min(n["pos"][1] for n in nodes)
    right = max(n["pos"][0] + n["size"][0] for n in nodes)
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes)
    margin = 24
    scale = min((THUMBNAIL_SIZE[0] - 2 * margin) / (right - left), (THUMBNAIL_SIZE[1] - 2 * margin) / (bottom - top))
    image = Image.new("RGB", THUMBNAIL_SIZE, (29, 27, 46))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(9, int(26 * scale)))

    def box(node):
        x, y = (node["pos"][0] - left) * scale + margin, (node["pos"][1] - top) * scale + margin
        return x, y, x + node["size"][0] * scale, y + node["size"][1] * scale

    by_id = {n["id"]: n for n in nodes}
    for _, origin, _, target, _, _ in ui["links"]:
        a, b = box(by_id[origin]), box(by_id[target])
        draw.line([(a[2], (a[1] + a[3]) / 2), (b[0], (b[1] + b[3]) / 2)], fill=(150, 150, 170), width=2)
    for node in nodes:
        x0, y0, x1, y1 = box(node)
        kind = "RealisDance" if node["type"].startswith("RealisDance") else "other"
        draw.rounded_rectangle([x0, y0, x1, y1], radius=6, fill=(53, 53, 70), outline=COLOURS[kind], width=2)
        title = node.get("title") or node["type"].removeprefix("RealisDance")
        while title and draw.textlength(title, font=font) > x1 - x0 - 10:
            title = title[:-1]
        draw.text((x0 + 6, y0 + 4), title, fill=(240, 240, 240), font=font)
    return image


def expected_files() -> dict[Path, str]:
    files = {}
    with _Schemas() as schemas:
        for api_path in sorted(API_DIR.glob("*.api.json")):
            name = api_path.name[: -len(".api.json")]
            prompt = json.loads(api_path.read_text(encoding="utf-8"))
            notes_path = API_DIR / f"{name}.notes.json"
            notes = json.loads(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else []
            files[UI_DIR / f"{name}.json"] = json.dumps(build_ui(prompt, notes, schemas), indent=2) + "\n"
        for file_name, (source, description) in BLUEPRINTS.items():
            prompt = json.loads((API_DIR / f"{source}.api.json").read_text(encoding="utf-8"))
            blueprint = build_blueprint(prompt, file_name.removesuffix(".json"), description, build_ui, schemas)
            files[SUBGRAPH_DIR / file_name] = json.dumps(blueprint, indent=2) + "\n"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        picture = path.with_suffix(".jpg") if path.parent == UI_DIR else None  # templates have thumbnails
        if current != text or (picture is not None and not picture.is_file()):
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                # JPEG bytes vary with the Pillow version, so --check asks only that the picture exists.
                if picture is not None:
                    thumbnail(json.loads(text)).save(picture, quality=88)
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + str(path.relative_to(REPO)))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
