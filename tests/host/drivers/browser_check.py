"""Open the ComfyUI frontend in headless Chromium over CDP and report what the page sees of the pack.

Run with the host's Python (it has aiohttp): ``python browser_check.py job.json``. The job names ``url`` (a running
ComfyUI), ``chromium`` (the executable), ``node_types`` (ours), ``workflows`` ({name: UI-format JSON}) and ``profile``
(a throw-away profile folder). The report holds: readiness, our flag, which of our types LiteGraph registered, the
footer's reaction to a summary, and per UI workflow the API prompt ``app.graphToPrompt`` made of it.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp

READY_TIMEOUT_S = 60
APP = "(window.app ?? window.comfyAPI?.app?.app)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Page:
    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=60)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")


async def check(job: dict, port: int) -> dict:
    report = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # Chromium needs a moment to open its debugging port
            try:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as reply:
                    targets = [t for t in await reply.json() if t["type"] == "page"]
                if targets:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            started = time.monotonic()
            await page.call("Page.navigate", url=job["url"])
            ready = f"!!({APP}?.graph) && Object.keys(window.LiteGraph?.registered_node_types ?? {{}}).length > 0"
            while not await page.evaluate(ready):
                if time.monotonic() - started > READY_TIMEOUT_S:
                    raise RuntimeError("the ComfyUI frontend did not become ready")
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # extensions' setup() runs right after the graph exists
            report["ready_s"] = time.monotonic() - started
            report["flag"] = await page.evaluate("window.__realisdance_extension_loaded === true")
            types = json.dumps(job["node_types"])
            report["registered"] = await page.evaluate(
                f"{types}.filter(t => t in window.LiteGraph.registered_node_types)"
            )
            report["decorated"] = await page.evaluate("window.__realisdance_node_types ?? []")
            report["classic"] = await _summary_check(page, job["node_types"])
            report["vue"] = await _with_vue_nodes(page, job["node_types"])
            report["prompts"] = {}
            if job.get("screenshots"):
                await page.call("Emulation.setDeviceMetricsOverride", width=1600, height=900, deviceScaleFactor=1,
                                mobile=False)  # fmt: skip
            for name, workflow in job["workflows"].items():
                report["prompts"][name] = await page.evaluate(
                    f"(async () => {{ await {APP}.loadGraphData({json.dumps(workflow)});"
                    f" return (await {APP}.graphToPrompt()).output; }})()"
                )
                await asyncio.sleep(3.0)  # the frontend checks models and media a moment after the load
                if job.get("screenshots"):
                    await _screenshot(page, os.path.join(job["screenshots"], f"{name}.png"))
                report.setdefault("errors_on_open", {})[name] = await page.evaluate(ERRORS_ON_OPEN)
    return report


# The frontend's error notice after a load: "N ERRORS" with Dismiss (frontend 1.45, ComfyUI 0.28) or "<file> is
# missing" with View details (1.49, ComfyUI 0.33). Its text is returned and the notice closed.
ERRORS_ON_OPEN = r"""(() => {
  const heading = [...document.querySelectorAll('body *')].find(e => e.children.length === 0
    && (/^\d+ errors?$/i.test((e.innerText || '').trim()) || / is missing$/i.test((e.innerText || '').trim())));
  if (!heading) return null;
  let box = heading;
  while (box.parentElement && !/Dismiss|View details/.test(box.innerText)) box = box.parentElement;
  const text = box.innerText;
  const close = [...box.querySelectorAll('button')].find(
    b => b.innerText.trim() === 'Dismiss' || b.innerText.trim() === '');
  if (close) close.click();
  return text;
})()"""


async def _close_template_browser(page) -> None:
    """The template browser a new profile opens with covers the canvas: Escape closes it, as a user would."""
    for kind in ("keyDown", "keyUp"):
        await page.call("Input.dispatchKeyEvent", type=kind, key="Escape", code="Escape", windowsVirtualKeyCode=27)


async def _screenshot(page, path: str) -> None:
    """The page as the user sees it after opening a workflow (the template browser closed, notices kept)."""
    import base64

    await _close_template_browser(page)
    await asyncio.sleep(0.5)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shot = await page.call("Page.captureScreenshot", format="png")
    with open(path, "wb") as out:
        out.write(base64.b64decode(shot["data"]))


SUMMARY_LINE = "64x112, 5 frames; plan: resident"


async def _summary_check(page, node_types) -> dict:
    """Our summary after a run, on a node of ours placed on the canvas: where it shows, and that saving the node
    keeps its widget values as they were."""
    node_type = "RealisDanceToVideo" if "RealisDanceToVideo" in node_types else node_types[0]
    return await page.evaluate(
        f"""(async () => {{
          const node = window.LiteGraph.createNode({json.dumps(node_type)});
          {APP}.graph.add(node);
          const values = JSON.stringify(node.serialize().widgets_values);
          const before = node.size[1];
          node.onExecuted({{realisdance_summary: ["first"]}});
          node.onExecuted({{realisdance_summary: [{json.dumps(SUMMARY_LINE)}]}});
          {APP}.graph.setDirtyCanvas(true, true);
          await new Promise(r => setTimeout(r, 1500));
          const preview = (node.widgets ?? []).find(w => w.type === "textPreview" || w.name === "preview_text");
          const shown = [...document.querySelectorAll("textarea, [contenteditable], .p-textarea, div, span")]
            .some(el => (el.value ?? el.textContent ?? "").includes("plan: resident"));
          const result = {{
            host_text_preview: !!window.comfyAPI?.textPreviewWidgets?.addTextPreviewWidgets,
            summary: node.realisdanceSummary,
            widget: preview ? String(preview.value) : null,
            grew: node.size[1] - before,
            values_unchanged: JSON.stringify(node.serialize().widgets_values) === values,
            in_dom: shown,
          }};
          {APP}.graph.remove(node);
          return result;
        }})()"""
    )


async def _with_vue_nodes(page, node_types) -> dict:
    """The same check under the Vue node renderer ("Nodes 2.0"), switched on through the settings API."""
    await page.evaluate(
        f"(async () => {{ const s = {APP}.extensionManager?.setting ?? null;"
        " if (s) await s.set('Comfy.VueNodes.Enabled', true);"
        f" else await {APP}.ui.settings.setSettingValueAsync('Comfy.VueNodes.Enabled', true); }})()"
    )
    await asyncio.sleep(2.0)
    result = await _summary_check(page, node_types)
    result["vue_enabled"] = await page.evaluate(
        f"(() => {{ const s = {APP}.extensionManager?.setting; return s ? s.get('Comfy.VueNodes.Enabled') : null; }})()"
    )
    return result


def main(job_path: str) -> None:
    job = json.loads(open(job_path, encoding="utf-8").read())
    port = _free_port()
    browser = subprocess.Popen(
        [
            job["chromium"],
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={job['profile']}",
            "about:blank",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the renderers go with it
    )
    try:
        report = asyncio.run(check(job, port))
    finally:
        os.killpg(browser.pid, signal.SIGKILL)  # the group of the browser we started, by its id
        browser.wait()
    with open(job["result"], "w", encoding="utf-8") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main(sys.argv[1])
