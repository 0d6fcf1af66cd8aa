"""Queue a prompt on a running ComfyUI, press Cancel once a node reports progress, and report what the host said.

Run with the host's Python (it has aiohttp): ``python interrupt_run.py job.json``. The job names ``url``, ``prompt``
and ``node`` (the node whose progress triggers POST /interrupt). The report lists the websocket events of the prompt,
the execution_interrupted message and the seconds from the interrupt to it.
"""

import asyncio
import json
import sys
import time
import uuid

import aiohttp

TIMEOUT_S = 150


async def run(job: dict) -> dict:
    client_id = uuid.uuid4().hex
    report = {"events": [], "interrupted": None, "finished": None}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{job['url']}/ws?clientId={client_id}") as ws:
        async with http.post(f"{job['url']}/prompt", json={"prompt": job["prompt"], "client_id": client_id}) as reply:
            queued = await reply.json()
            if reply.status != 200:
                return {**report, "queue_error": queued}
        prompt_id = queued["prompt_id"]
        report["prompt_id"] = prompt_id
        interrupt_sent = None
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = await ws.receive(timeout=deadline - time.monotonic())
            if message.type != aiohttp.WSMsgType.TEXT:
                continue  # binary frames are previews
            event = json.loads(message.data)
            kind, data = event["type"], event.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            report["events"].append(kind)
            if kind == "progress" and data.get("node") == job["node"] and interrupt_sent is None:
                report["progress_at_interrupt"] = [data.get("value"), data.get("max")]
                interrupt_sent = time.monotonic()
                async with http.post(f"{job['url']}/interrupt", json={}) as reply:
                    report["interrupt_status"] = reply.status
            elif kind == "execution_interrupted":
                report["interrupted"] = data
                report["interrupt_to_stop_s"] = time.monotonic() - (interrupt_sent or time.monotonic())
                break
            elif kind in ("execution_success", "execution_error"):
                report["finished"] = {"event": kind, "data": data}
                break
    return report


if __name__ == "__main__":
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    result = asyncio.run(run(job))
    with open(job["result"], "w", encoding="utf-8") as out:
        json.dump(result, out, default=repr)
