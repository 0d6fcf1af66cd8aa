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
            report["footer"] = await page.evaluate(
                f"""(() => {{
                  const node = window.LiteGraph.createNode({json.dumps(job["node_types"][0])});
                  {APP}.graph.add(node);
                  const before = node.size[1];
                  node.onExecuted({{realisdance_summary: ["64x112, 5 frames"]}});
                  node.onExecuted({{realisdance_summary: ["again"]}});
                  const result = {{summary: node.realisdanceSummary, grew: node.size[1] - before}};
                  {APP}.graph.remove(node);
                  return result;
                }})()"""
            )
            report["prompts"] = {}
            for name, workflow in job["workflows"].items():
                report["prompts"][name] = await page.evaluate(
                    f"(async () => {{ await {APP}.loadGraphData({json.dumps(workflow)});"
                    f" return (await {APP}.graphToPrompt()).output; }})()"
                )
    return report


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
