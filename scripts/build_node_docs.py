"""Write the per-node help pages the ComfyUI frontend shows (``js/docs/<NodeId>.md``, served under the pack's web
directory) from the node schemas, plus the hand-written guide of a node when ``docs/nodes/<NodeId>.md`` has one.

    python scripts/build_node_docs.py            # (re)write every page
    python scripts/build_node_docs.py --check    # exit 1 when a page is missing or stale
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "js" / "docs"
GUIDES = REPO / "docs" / "nodes"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def page(cls, widget_type) -> str:
    schema = cls.GET_SCHEMA()
    lines = [f"# {schema.display_name or schema.node_id}", "", schema.description, ""]
    guide = GUIDES / f"{schema.node_id}.md"
    if guide.is_file():
        lines += [guide.read_text(encoding="utf-8").strip(), ""]
    if schema.inputs:
        lines += ["## Inputs", "", "| name | type | default | what it is |", "|---|---|---|---|"]
        for item in schema.inputs:
            types = getattr(item, "types", None)
            kind = " or ".join(t.io_type for t in types) if types else item.io_type
            default = getattr(item, "default", None) if isinstance(item, widget_type) else None
            shown = "" if default is None else f"`{default}`"
            optional = " (optional)" if item.optional else ""
            lines.append(f"| `{item.id}`{optional} | {kind} | {shown} | {_cell(item.tooltip or '')} |")
        lines.append("")
    if schema.outputs:
        lines += ["## Outputs", "", "| name | type | what it is |", "|---|---|---|"]
        for output in schema.outputs:
            name = output.display_name or output.io_type
            lines.append(f"| `{name}` | {output.io_type} | {_cell(output.tooltip or '')} |")
        lines.append("")
    return "\n".join(lines)


def expected_pages() -> dict[Path, str]:
    sys.path.insert(0, str(REPO / "tests"))
    from comfy_double import install, uninstall

    double = install(tempfile.mkdtemp(prefix="node-docs-"))
    try:
        pack = double.install_pack()
        return {OUT / f"{node_id}.md": page(cls, double.io.WidgetInput) for node_id, cls in sorted(pack.nodes.items())}
    finally:
        uninstall(double)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a page differs")
    args = parser.parse_args(argv)
    pages = expected_pages()
    stale = [path for path, text in pages.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    extra = [path for path in OUT.glob("*.md") if path not in pages] if OUT.is_dir() else []
    if not args.check:
        OUT.mkdir(parents=True, exist_ok=True)
        for path in stale:
            path.write_text(pages[path], encoding="utf-8")
        for path in extra:
            path.unlink()
    for path in stale + extra:
        print(("stale: " if args.check else "updated: ") + str(path.relative_to(REPO)))
    return 1 if args.check and (stale or extra) else 0


if __name__ == "__main__":
    sys.exit(main())
