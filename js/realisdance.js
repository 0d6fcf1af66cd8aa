// ComfyUI-RealisDance frontend: shows the one-line summary our nodes report after they run.
//
// Contract with the Python nodes: a node's UI output may hold {"realisdance_summary": ["<one line>"]} (e.g. the
// resolution, frame count and seconds taken). The line is drawn as a footer on the node. It is drawn, not a widget,
// so it never enters the saved workflow's widgets_values (which must stay in the schema's input order). A line with
// "; " parts (the sampler's run; its memory plan) is drawn one part per row, so no part is cut off.
import { app } from "../../scripts/app.js";

const SUMMARY_KEY = "realisdance_summary";
const FOOTER_HEIGHT = 18;
const FOOTER_COLOUR = "#9ab";
const PART_SEPARATOR = "; ";

function isOurs(nodeData) {
  return (nodeData?.category ?? "").startsWith("RealisDance") || (nodeData?.name ?? "").startsWith("RealisDance");
}

// Cut the text with an ellipsis so it fits the node's width.
function fitted(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let end = text.length;
  while (end > 0 && ctx.measureText(text.slice(0, end) + "…").width > width) end--;
  return text.slice(0, end) + "…";
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
      // Make room once per row, and keep a size the user chose.
      const rows = line.split(PART_SEPARATOR).length;
      const grow = rows - (this.realisdanceRows ?? 0);
      this.realisdanceSummary = line;
      if (grow > 0) {
        this.realisdanceRows = rows;
        this.setSize([this.size[0], this.size[1] + grow * FOOTER_HEIGHT]);
      }
      this.setDirtyCanvas(true, true);
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      if (this.realisdanceSummary === undefined || this.flags?.collapsed) return;
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
