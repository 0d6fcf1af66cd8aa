// ComfyUI-RealisDance frontend: shows the one-line summary our nodes report after they run.
//
// Contract with the Python nodes: a node's UI output may hold {"realisdance_summary": ["<one line>"]} (e.g. the
// resolution, frame count and seconds taken).
//
// Shown with the host's own text preview widget (window.comfyAPI.textPreviewWidgets, the one PreviewAny uses) when
// the frontend has it: a real widget, so both the classic canvas and the Vue node renderer ("Nodes 2.0") show it,
// and one the host never serialises, so saved workflows keep widgets_values in the schema's input order. The widget
// is added on the first summary only: a node that has not run shows no empty box. Frontends without that API get
// the line drawn as a canvas footer (one row per "; " part, e.g. the sampler's memory plan).
import { app } from "../../scripts/app.js";

const SUMMARY_KEY = "realisdance_summary";
const FOOTER_HEIGHT = 18;
const FOOTER_COLOUR = "#9ab";
const PART_SEPARATOR = "; ";

function isOurs(nodeData) {
  return (nodeData?.category ?? "").startsWith("RealisDance") || (nodeData?.name ?? "").startsWith("RealisDance");
}

function hostTextPreview() {
  const api = window.comfyAPI?.textPreviewWidgets;
  return api?.addTextPreviewWidgets && api?.updateTextPreviewWidgets ? api : null;
}

// Cut the text with an ellipsis so it fits the node's width.
function fitted(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let end = text.length;
  while (end > 0 && ctx.measureText(text.slice(0, end) + "…").width > width) end--;
  return text.slice(0, end) + "…";
}

function showWithHostWidget(node, line, preview) {
  if (!node.realisdancePreview) {
    node.realisdancePreview = true;
    preview.addTextPreviewWidgets(node);
  }
  preview.updateTextPreviewWidgets(node, { text: line.split(PART_SEPARATOR).join("\n") });
}

function showAsFooter(node, line) {
  // Make room once per row, and keep a size the user chose.
  const rows = line.split(PART_SEPARATOR).length;
  const grow = rows - (node.realisdanceRows ?? 0);
  if (grow > 0) {
    node.realisdanceRows = rows;
    node.setSize([node.size[0], node.size[1] + grow * FOOTER_HEIGHT]);
  }
}

app.registerExtension({
  name: "RealisDance.Summary",

  async setup() {
    window.__realisdance_extension_loaded = true; // the real-host browser test checks this flag
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!isOurs(nodeData)) return;
    (window.__realisdance_node_types ??= []).push(nodeData.name);

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      onExecuted?.apply(this, arguments);
      const line = output?.[SUMMARY_KEY]?.[0];
      if (typeof line !== "string") return;
      this.realisdanceSummary = line;
      const preview = hostTextPreview();
      if (preview) showWithHostWidget(this, line, preview);
      else showAsFooter(this, line);
      this.setDirtyCanvas(true, true);
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      if (this.realisdancePreview || this.realisdanceSummary === undefined || this.flags?.collapsed) return;
      ctx.save();
      ctx.font = "12px sans-serif";
      ctx.fillStyle = FOOTER_COLOUR;
      ctx.textAlign = "left";
      const rows = this.realisdanceSummary.split(PART_SEPARATOR);
      rows.forEach((row, index) => {
        const fromBottom = rows.length - 1 - index;
        ctx.fillText(fitted(ctx, row, this.size[0] - 16), 8, this.size[1] - 6 - fromBottom * FOOTER_HEIGHT);
      });
      ctx.restore();
    };
  },
});
