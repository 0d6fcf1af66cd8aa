"""Fixtures of the real-host tests: the host, tiny models and media, the double's view, a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from host_env import find_host, free_port, make_base_dir, subprocess_env

SERVER_START_TIMEOUT_S = 120


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.comfy_host)


@pytest.fixture(scope="session")
def host():
    return find_host()


@pytest.fixture(scope="session")
def tiny_release(host, tmp_path_factory) -> Path:
    from realisdance.tiny import build_tiny_release

    # The native-width tiny release: the host's own Wan classes (RealisDance-DiT Loader (MODEL)) can hold it, and
    # the pipeline-path nodes load it as well.
    return build_tiny_release(tmp_path_factory.mktemp("tiny") / "release", variant="native-I2V")


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    from realisdance.demo_inputs import write_demo_inputs

    return write_demo_inputs(tmp_path_factory.mktemp("media"))


class Server:
    def __init__(self, url: str, base: Path, log: Path):
        self.url, self.base, self.log = url, base, log

    def request(self, path: str, payload: dict | None = None) -> tuple[int, dict]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def wait_for_history(self, prompt_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, history = self.request(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                return history[prompt_id]
            time.sleep(0.2)
        raise AssertionError(f"prompt {prompt_id} did not finish in {timeout} s; log: {self.log}")


@pytest.fixture(scope="session")
def comfy_server(host, tiny_release, tmp_path_factory):
    """main.py on a free port with a throw-away base directory; killed (by PID) at the end, always."""
    base = make_base_dir(tmp_path_factory.mktemp("server_base"), tiny_release)
    port = free_port()
    log = base / "server.log"
    command = [
        host.python, str(host.root / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
        "--disable-auto-launch", "--base-directory", str(base), "--database-url", "sqlite:///:memory:",
        "--disable-api-nodes",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=host.root, env=subprocess_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", base, log)
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                status, info = server.request("/object_info")
                if status == 200 and info:
                    break
            except OSError:
                pass
            if time.monotonic() - started > SERVER_START_TIMEOUT_S:
                raise AssertionError(f"no answer in {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        server.startup_s = time.monotonic() - started
        server.object_info = info
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and anything it started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
