"""Double of ComfyUI's ``folder_paths``: named model folders under one base directory.

``configure(base_dir)`` resets it to a fresh ComfyUI layout (models/, input/, output/, temp/ under ``base_dir``).
Semantics kept from the host: a folder name maps to ``([paths], {extensions})``; an empty extension set means
"every file"; file lists are recursive and relative to their folder; the first path holding a file wins.
"""

from __future__ import annotations

import os

supported_pt_extensions: set[str] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
base_path = models_dir = output_directory = temp_directory = input_directory = ""

# name -> sub-folders of models/, in the host's order (e.g. unet/ is searched before diffusion_models/)
_MODEL_FOLDERS = {
    "checkpoints": ["checkpoints"],
    "loras": ["loras"],
    "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["unet", "diffusion_models"],
    "clip_vision": ["clip_vision"],
    "upscale_models": ["upscale_models"],
}
_LEGACY = {"unet": "diffusion_models", "clip": "text_encoders"}


def configure(base_dir) -> None:
    global base_path, models_dir, output_directory, temp_directory, input_directory
    base_path = os.path.abspath(base_dir)
    models_dir = os.path.join(base_path, "models")
    output_directory = os.path.join(base_path, "output")
    temp_directory = os.path.join(base_path, "temp")
    input_directory = os.path.join(base_path, "input")
    folder_names_and_paths.clear()
    for name, subfolders in _MODEL_FOLDERS.items():
        folder_names_and_paths[name] = ([os.path.join(models_dir, s) for s in subfolders], supported_pt_extensions)
    folder_names_and_paths["custom_nodes"] = ([os.path.join(base_path, "custom_nodes")], set())
    for name in ("checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision"):
        os.makedirs(os.path.join(models_dir, name), exist_ok=True)
    for folder in (output_directory, temp_directory, input_directory):
        os.makedirs(folder, exist_ok=True)


def map_legacy(folder_name: str) -> str:
    return _LEGACY.get(folder_name, folder_name)


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())
        return
    paths = folder_names_and_paths[folder_name][0]
    if full_folder_path in paths:
        if is_default:
            paths.remove(full_folder_path)
            paths.insert(0, full_folder_path)
    elif is_default:
        paths.insert(0, full_folder_path)
    else:
        paths.append(full_folder_path)


def get_folder_paths(folder_name: str) -> list[str]:
    return list(folder_names_and_paths[map_legacy(folder_name)][0])


def get_filename_list(folder_name: str) -> list[str]:
    paths, extensions = folder_names_and_paths[map_legacy(folder_name)]
    found: set[str] = set()
    for root in paths:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            for name in filenames:
                if not extensions or os.path.splitext(name)[1].lower() in extensions:
                    found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def get_full_path(folder_name: str, filename: str) -> str | None:
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        return None
    filename = os.path.relpath(os.path.join("/", filename), "/")  # no escaping the folder with ../
    for root in folder_names_and_paths[folder_name][0]:
        candidate = os.path.join(root, filename)
        if os.path.isfile(candidate):
            return candidate
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return path


def get_output_directory() -> str:
    return output_directory


def get_temp_directory() -> str:
    return temp_directory


def get_input_directory() -> str:
    return input_directory


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """ "x.png [output]" -> ("x.png", the output folder); a name without a folder note -> (name, None)."""
    for note, folder in (
        ("[output]", get_output_directory),
        ("[input]", get_input_directory),
        ("[temp]", get_temp_directory),
    ):
        if name.endswith(note):
            return name[: -len(note)].rstrip(), folder()
    return name, None
