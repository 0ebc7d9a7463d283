"""Model presets (presets.json) and finding a model's weights on this machine, without torch.

A node's ``model`` param names what to load, in one of three ways:
- a preset id (``sd-turbo``): its hub repo at its revision, looked up in the Hugging Face cache
  (``HF_HUB_CACHE`` / ``HF_HOME``), or in ``$REELGRAPH_MODELS/<id>`` when that folder exists;
- a hub repo id (``org/name``): looked up in the Hugging Face cache;
- a local folder (absolute, or relative to the workflow's folder): a diffusers pipeline
  (``model_index.json``) or a transformers model (``config.json``). It must lie in the workflow's
  folder, under ``$REELGRAPH_MODELS`` or in the Hugging Face cache: a workflow (one opened in the
  editor, say) cannot make the server read, or tell apart, folders anywhere else.
Nothing here downloads: a run never reaches the network. ``pull`` is the one place that does.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from reelgraph.graph import NodeError

TASKS = ("text_to_image", "image_to_video", "upscale", "music", "speech", "text")
TIERS = ("cpu", "consumer", "datacenter")
PRESETS_FILE = Path(__file__).with_name("presets.json")


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    task: Literal["text_to_image", "image_to_video", "upscale", "music", "speech", "text"]
    library: Literal["diffusers", "transformers"]
    pipeline: str = Field(description="diffusers pipeline class, or transformers model class")
    repo: str
    revision: str = "main"
    dtype: Literal["float16", "bfloat16", "float32"]
    defaults: dict[str, float | int | str] = Field(default_factory=dict)
    vram_gb: float
    tier: Literal["cpu", "consumer", "datacenter"]
    download_gb: float
    license: str
    commercial: bool | Literal["limited"]
    supports: list[str] = Field(default_factory=list)
    notes: str = ""

    def default(self, name: str, fallback=None):
        return self.defaults.get(name, fallback)

    @property
    def commercial_text(self) -> str:
        return {True: "yes", False: "no", "limited": "limited"}[self.commercial]


class PresetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str = ""
    defaults: dict[str, dict[str, str | None]]
    presets: list[Preset]


@lru_cache(maxsize=1)
def _file() -> PresetFile:
    data = PresetFile.model_validate(json.loads(PRESETS_FILE.read_text(encoding="utf-8")))
    ids = [p.id for p in data.presets]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{PRESETS_FILE}: duplicate preset ids")
    for task, by_tier in data.defaults.items():
        for tier, pid in by_tier.items():
            if pid is not None and pid not in ids:
                raise ValueError(f"{PRESETS_FILE}: default {task}/{tier} names unknown preset {pid!r}")
    return data


def presets() -> dict[str, Preset]:
    return {p.id: p for p in _file().presets}


def for_task(task: str) -> list[Preset]:
    return [p for p in _file().presets if p.task == task]


def default_preset(task: str, tier: str) -> Preset | None:
    pid = _file().defaults.get(task, {}).get(tier)
    return presets()[pid] if pid else None


# -- where weights are on this machine

def hub_cache() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (as huggingface_hub does)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "huggingface" / "hub"


def models_dir() -> Path | None:
    value = os.environ.get("REELGRAPH_MODELS")
    return Path(value).expanduser() if value else None


class Located(BaseModel):
    """Weights found on disk, and what to load them as."""

    model_config = ConfigDict(frozen=True)

    ref: str  # what the user wrote (or the default preset's id)
    path: str  # the folder to load from
    library: Literal["diffusers", "transformers"]
    pipeline: str  # class to load with
    preset: Preset | None = None
    identity: str  # changes when the weights change: part of the cache key of results

    @property
    def label(self) -> str:
        return self.preset.id if self.preset else self.ref


def model_roots(workspace: Path | None) -> list[Path]:
    """The folders a local model folder may lie in: the workspace (the workflow's folder),
    $REELGRAPH_MODELS and the Hugging Face cache."""
    roots = [Path(workspace) if workspace is not None else Path.cwd(), hub_cache()]
    own = models_dir()
    if own is not None:
        roots.append(own)
    return [r.resolve() for r in roots]


def _local_folder(ref: str, workspace: Path | None, field: str) -> Path:
    """The folder ``ref`` names, resolved (links followed), or a NodeError. Outside the allowed roots
    the answer is the same whether the folder exists, is a file or is missing."""
    try:
        raw = Path(ref).expanduser()
        path: Path | None = (raw if raw.is_absolute() else Path(workspace or Path.cwd()) / raw).resolve()
    except (OSError, RuntimeError, ValueError):  # ~nobody, a loop of links, a NUL byte
        path = None
    if path is None or not any(path == r or r in path.parents for r in model_roots(workspace)):
        raise NodeError(f"model folder {ref!r} is outside the folders models are read from", field=field,
                        fix="put the model folder inside the workflow's folder (and give its relative path), "
                            "or under $REELGRAPH_MODELS or the Hugging Face cache")
    if not path.is_dir():
        raise NodeError(f"model folder not found: {ref}", field=field,
                        fix="point model at a folder saved with save_pretrained (relative paths are "
                            "relative to the workflow's folder), or use a preset id: reelgraph models list")
    return path


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~", "\\")) or ref.count("/") > 1 or "\\" in ref \
        or (len(ref) > 1 and ref[1] == ":")  # C:\models on Windows


def _folder_kind(path: Path) -> tuple[str, str] | None:
    """(library, class) of a model folder, read from its config; None if it is not one."""
    index = path / "model_index.json"
    if index.is_file():
        try:
            return "diffusers", json.loads(index.read_text(encoding="utf-8"))["_class_name"]
        except (ValueError, KeyError, OSError):
            return None
    config = path / "config.json"
    if config.is_file():
        try:
            archs = json.loads(config.read_text(encoding="utf-8")).get("architectures") or [""]
        except (ValueError, OSError):
            return None
        return "transformers", archs[0]
    return None


def _identity(path: Path, tag: str) -> str:
    """A string that changes when the weights change: the hub snapshot's commit, or for a plain
    folder the sizes and mtimes of its config and weight files."""
    if path.parent.name == "snapshots":
        return f"{tag}@{path.name}"
    parts = []
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt", ".model"):
            st = f.stat()
            parts.append(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}")
    import hashlib
    return f"{tag}#{hashlib.sha256(chr(10).join(parts).encode()).hexdigest()[:16]}"


def _from_hub_cache(repo: str, revision: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=str(hub_cache()),
                                      local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError):
        return None


def weights_size_gb(path: Path) -> float:
    total = sum(f.stat().st_size for f in Path(path).rglob("*")
                if f.is_file() and f.suffix in (".safetensors", ".bin", ".pt", ".pth", ".gguf"))
    return total / 1e9


def locate(ref: str, task: str, *, tier: str, workspace: Path | None = None, node: str = "model",
           field: str = "model") -> Located:
    """Find the weights ``ref`` names for ``task`` (empty ``ref``: the task's default preset for
    ``tier``), or raise a NodeError that says how to get them."""
    ref = (ref or "").strip()
    if not ref:
        preset = default_preset(task, tier)
        if preset is None:
            choices = ", ".join(p.id for p in for_task(task)) or "none"
            raise NodeError(f"no {task.replace('_', '-')} model runs on a {tier} device", field=field,
                            fix=f"use backend draft, run on a GPU, or set model to a preset ({choices}) "
                                "or a local folder")
        return _locate_preset(preset, field)
    known = presets()
    if ref in known:
        preset = known[ref]
        if preset.task != task:
            fit = ", ".join(p.id for p in for_task(task))
            raise NodeError(f"preset {ref!r} is a {preset.task.replace('_', '-')} model, this node needs "
                            f"{task.replace('_', '-')}", field=field, fix=f"use one of: {fit}")
        return _locate_preset(preset, field)
    if _looks_like_path(ref) or (workspace is not None and (Path(workspace) / ref).is_dir()):
        path = _local_folder(ref, workspace, field)
        kind = _folder_kind(path)
        if kind is None:
            raise NodeError(f"{path} holds neither model_index.json (diffusers) nor config.json "
                            "(transformers)", field=field,
                            fix="point model at the folder save_pretrained wrote")
        return Located(ref=ref, path=str(path), library=kind[0], pipeline=kind[1],
                       identity=_identity(path, "dir"))
    if ref.count("/") == 1:  # a hub repo id outside the presets
        found = _from_hub_cache(ref, "main")
        if found is None:
            raise NodeError(f"model {ref!r} is not in the Hugging Face cache ({hub_cache()})", field=field,
                            fix=f"download it: huggingface-cli download {ref} (or use a preset: "
                                "reelgraph models list)")
        kind = _folder_kind(found)
        if kind is None:
            raise NodeError(f"{ref} in the cache has no model_index.json or config.json", field=field,
                            fix="download the whole repository")
        return Located(ref=ref, path=str(found), library=kind[0], pipeline=kind[1],
                       identity=_identity(found, ref))
    raise NodeError(f"unknown model {ref!r}", field=field,
                    fix="use a preset id (reelgraph models list), a hub repo id org/name, or a local folder")


def _locate_preset(preset: Preset, field: str) -> Located:
    own = models_dir()
    if own is not None and (own / preset.id).is_dir():
        path = own / preset.id
        return Located(ref=preset.id, path=str(path), library=preset.library, pipeline=preset.pipeline,
                       preset=preset, identity=_identity(path, preset.id))
    found = _from_hub_cache(preset.repo, preset.revision)
    if found is None:
        raise NodeError(f"model {preset.id} ({preset.repo}) is not on this machine", field=field,
                        fix=f"download it once: reelgraph models pull {preset.id}  (about "
                            f"{preset.download_gb:g} GB), or use backend draft")
    return Located(ref=preset.id, path=str(found), library=preset.library, pipeline=preset.pipeline,
                   preset=preset, identity=_identity(found, preset.id))


def is_present(preset: Preset) -> Path | None:
    try:
        return Path(_locate_preset(preset, "model").path)
    except NodeError:
        return None


# -- downloading (the only code that reaches the network)

def pull(preset: Preset, *, progress: bool = True) -> Path:
    """Download a preset's repository into the Hugging Face cache; returns the snapshot folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise NodeError(f"cannot download {preset.id}: HF_HUB_OFFLINE is set", field="model",
                        fix="unset HF_HUB_OFFLINE, or copy the model folder here and set REELGRAPH_MODELS")
    (enable_progress_bars if progress else disable_progress_bars)()
    return Path(snapshot_download(preset.repo, revision=preset.revision, cache_dir=str(hub_cache()),
                                  allow_patterns=_patterns(preset)))


def _patterns(preset: Preset) -> list[str]:
    # configs, tokenizers and safetensors weights; skip duplicate .bin/.ckpt/.onnx copies
    return ["*.json", "*.txt", "*.model", "*.safetensors", "*.tiktoken", "*.py", "*.md",
            "tokenizer*", "*/tokenizer*", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]
