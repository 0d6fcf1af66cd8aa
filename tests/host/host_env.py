"""Where the real ComfyUI host is, how to start its Python, and the throw-away base folder it runs in.

The real host is never imported into the pytest process: the normal suite puts our test double under ComfyUI's
module names into sys.modules. Every real-host check runs in a subprocess with ``COMFYUI_PYTHON``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST_TESTS = Path(__file__).resolve().parent
REPO_ROOT = HOST_TESTS.parents[1]
DRIVERS = HOST_TESTS / "drivers"
SITECUSTOMIZE = HOST_TESTS / "sitecustomize"  # the torchvision CPU fix, see its docstring
PACK_FOLDER = "ComfyUI-RealisDance"
PACK_MODULE = f"custom_nodes.{PACK_FOLDER}"  # python_module of our nodes in /object_info
TINY_RELEASE = "TinyRealisDance"  # models/realisdance/<this>/ holds the tiny release in every base folder


@dataclass(frozen=True)
class Host:
    root: Path  # the ComfyUI checkout (main.py, nodes.py, ...)
    python: str  # an interpreter with ComfyUI's requirements and ours


def _default_python(root: Path) -> str:
    """The venv next to the checkout (<root>-venv), or one inside it (venv, .venv), else this interpreter."""
    for venv in (root.parent / f"{root.name}-venv", root / "venv", root / ".venv"):
        if (venv / "bin" / "python").exists():
            return str(venv / "bin" / "python")
    return sys.executable


def find_host() -> Host:
    """The host named by COMFYUI_ROOT / COMFYUI_PYTHON; skips the calling test when there is none."""
    value = os.environ.get("COMFYUI_ROOT")
    if not value:
        pytest.skip("real ComfyUI host: set COMFYUI_ROOT to a ComfyUI checkout (see scripts/comfyui_host_setup.sh)")
    root = Path(value).expanduser().resolve()
    if not (root / "main.py").is_file() or not (root / "nodes.py").is_file():
        pytest.skip(f"COMFYUI_ROOT={root} is not a ComfyUI checkout (no main.py / nodes.py)")
    python = os.environ.get("COMFYUI_PYTHON") or _default_python(root)
    return Host(root, python)


_TINY_ENCODERS: list[Path] = []  # the settings file, written once per test session


def tiny_encoders_settings() -> Path:
    """The tiny umT5 / CLIP configs the host's CLIPLoader / CLIPVisionLoader are given (sitecustomize)."""
    if not _TINY_ENCODERS:
        import tempfile

        from model_files import tiny_encoder_settings

        _TINY_ENCODERS.append(tiny_encoder_settings(Path(tempfile.mkdtemp(prefix="realisdance_tiny_encoders_"))))
    return _TINY_ENCODERS[0]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["REALISDANCE_TINY_ENCODERS"] = str(tiny_encoders_settings())
    env["PYTHONPATH"] = os.pathsep.join([str(SITECUSTOMIZE), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_driver(host: Host, name: str, job: dict, work_dir: Path, timeout: float = 240) -> dict:
    """Run drivers/<name>.py with the host's Python on a JSON job; returns the JSON it writes."""
    job_file, result_file = work_dir / f"{name}.job.json", work_dir / f"{name}.result.json"
    job_file.write_text(json.dumps({**job, "comfy_root": str(host.root), "result": str(result_file)}))
    proc = subprocess.run(
        [host.python, str(DRIVERS / f"{name}.py"), str(job_file)],
        cwd=work_dir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 or not result_file.exists():
        output = f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        raise AssertionError(f"driver {name} failed (exit {proc.returncode}):\n{output}")
    return json.loads(result_file.read_text())


def make_base_dir(base: Path, tiny_release: Path) -> Path:
    """A ComfyUI base directory: our pack linked into custom_nodes/, the tiny release in models/realisdance/."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base / "custom_nodes" / PACK_FOLDER).symlink_to(REPO_ROOT, target_is_directory=True)
    for name in ("input", "output", "temp", "user", "models/realisdance"):
        (base / name).mkdir(parents=True, exist_ok=True)
    (base / "models" / "realisdance" / TINY_RELEASE).symlink_to(tiny_release, target_is_directory=True)
    return base


def copy_into(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target)


def double_view(base_dir: Path) -> dict[str, dict]:
    """Our test double's /object_info entries for the pack loaded from ``base_dir`` (JSON round-tripped)."""
    from comfy_double import install, uninstall
    from comfy_double.latest_io import node_info

    double = install(base_dir)
    try:
        pack = double.load_pack(base_dir / "custom_nodes" / PACK_FOLDER)
        return json.loads(json.dumps({name: node_info(cls) for name, cls in pack.nodes.items()}))
    finally:
        uninstall(double)


def saved_latents(result: dict, base: Path, names) -> dict:
    """The latents a prompt's SaveLatent nodes wrote (``latents/<name>``), after checking it validated and ran with
    no exception or execution error (``result``: one prompt's entry of the inprocess_host driver's report)."""
    from safetensors.torch import load_file

    assert result["valid"] and not result["node_errors"], (result["error"], result["node_errors"])
    assert "exception" not in result, result["exception"]
    errors = [data for event, data in result["messages"] if event == "execution_error"]
    assert not errors, errors
    out = {}
    for name in names:
        files = sorted((base / "output" / "latents").glob(f"{name}_0*.latent"))
        assert files, f"SaveLatent wrote no {name} latent"
        out[name] = load_file(str(files[-1]))["latent_tensor"].float()
    return out
