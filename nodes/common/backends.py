"""The ``backend`` and ``model`` params every generative node shares, and how a choice resolves.

- ``draft``: procedural, on the CPU, in seconds (an animatic).
- ``diffusers``: a model through diffusers/transformers (``model``: a preset id, a hub repo id or a
  local folder; empty: the task's default preset for this device). Missing weights fail the node
  before it starts, with the command that fetches them.
- ``auto``: the model where a GPU and the weights are present, else the draft, saying why.

A generative node mixes in ``Generative`` and sets ``task``; the executor then has the model
manager load the model before run() (``ctx.models["pipeline"]``), and run() asks ``resolve()``
which backend it got. Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from reelgraph.graph import Choice, ModelNeed, NodeError, Param, Text

BACKENDS = ("draft", "diffusers", "auto")
PIPELINE = "pipeline"  # the key of the loaded model in ctx.models


def backend_param(default: str = "draft") -> Param:
    return Param(Choice, default=default, choices=BACKENDS, wirable=False,
                 doc="draft: procedural on the CPU, seconds (an animatic); diffusers: a real model "
                     "(see model); auto: the model where a GPU and its weights are present, else draft.")


def model_param(task: str) -> Param:
    """The ``model`` param of a node of ``task``; the editor offers that task's presets."""
    from reelgraph.nodes.models import presets
    ids = tuple(p.id for p in presets.for_task(task))
    return Param(Text, default="", wirable=False, suggestions=ids,
                 doc=f"For the diffusers backend: a preset ({', '.join(ids)}; see reelgraph models list), "
                     "a hub repo id, or a local model folder. Empty: the default preset for this device.")


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # what runs: "draft" or "diffusers"
    located: object | None = None  # presets.Located when a model runs
    reason: str | None = None  # why auto fell back to the draft

    def needs(self, vram_gb: float = 0.0) -> tuple[ModelNeed, ...]:
        if self.located is None:
            return ()
        loc = self.located
        vram = loc.preset.vram_gb if loc.preset else vram_gb
        return (ModelNeed(id=loc.label, kind=loc.library, vram_gb=vram, name=PIPELINE,
                          options=tuple(sorted({"path": loc.path, "pipeline": loc.pipeline,
                                                "dtype": loc.preset.dtype if loc.preset else "",
                                                "identity": loc.identity,
                                                "preset": loc.preset.id if loc.preset else ""}.items()))),)


def models_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "diffusers", "transformers"))


def choose(backend: str, model: str, task: str, workspace: Path | None, node: str = "") -> BackendChoice:
    """Which backend a call runs, found without torch. ``diffusers`` raises NodeError when the model
    cannot run here; ``auto`` falls back to the draft and says why."""
    if backend in (None, "", "draft"):
        return BackendChoice("draft")
    if backend not in BACKENDS:
        raise NodeError(f"unknown backend {backend!r}", field="backend", fix=f"use one of: {', '.join(BACKENDS)}")
    # a few filesystem looks per call; a run asks for each call twice (cache key, models) within
    # seconds, so answers are kept for a few seconds (and never across a change of cache folders)
    from reelgraph.nodes.models import presets
    where = (str(presets.hub_cache()), str(presets.models_dir()))
    return _choose(backend, (model or "").strip(), task, str(workspace or ""), where, int(time.monotonic() // 5))


@lru_cache(maxsize=256)
def _choose(backend: str, model: str, task: str, workspace: str, _where: tuple, _epoch: int) -> BackendChoice:
    from reelgraph.nodes.models import device, presets
    seen = device.probe()
    if backend == "auto":
        if seen.accelerator is None:
            return BackendChoice("draft", reason="no GPU on this machine")
        if not models_installed():
            return BackendChoice("draft", reason="the model libraries are not installed "
                                                 "(pip install 'reelgraph[models]')")
        try:
            located = presets.locate(model, task, tier=seen.tier, workspace=Path(workspace) if workspace else None)
        except NodeError as e:
            return BackendChoice("draft", reason=f"{e.message} ({e.fix})")
        return BackendChoice("diffusers", located)
    if not models_installed():
        raise NodeError("the diffusers backend needs torch, diffusers and transformers", field="backend",
                        fix="pip install torch==2.13.0 (or your CUDA build) then pip install "
                            "'reelgraph[models]'; or use backend draft")
    located = presets.locate(model, task, tier=seen.tier, workspace=Path(workspace) if workspace else None)
    if seen.accelerator is None:
        size = located.preset.vram_gb if located.preset else presets.weights_size_gb(Path(located.path))
        small = located.preset.tier == "cpu" if located.preset else size <= device.cpu_max_gb()
        if not small:
            raise NodeError(f"model {located.label} is too large to run on the CPU (about {size:.1f} GB)",
                            field="model", fix="run on a GPU, choose a cpu-tier preset (reelgraph models "
                                               "list), or use backend draft")
    return BackendChoice("diffusers", located)


class Generative:
    """Mix into a generative Node (``class KeyframeNode(Generative, Node)``) and set ``task``:
    the model it needs follows from its ``backend`` and ``model`` params."""

    task: ClassVar[str]

    @classmethod
    def resolves_where_it_runs(cls, values: dict) -> bool:
        return values.get("backend", "draft") not in (None, "", "draft")  # a GPU and weights decide

    @classmethod
    def models_for(cls, values: dict, workspace: Path) -> tuple[ModelNeed, ...]:
        return choose(values.get("backend", "draft"), values.get("model", ""), cls.task, workspace).needs()

    @classmethod
    def estimate_prior(cls, values: dict, drivers: dict, models: tuple):
        """Before a model call ever ran here: the shipped per-preset table (nodes/models/costs.py)."""
        from reelgraph.nodes.models import costs
        return costs.prior(cls.task, values, drivers, models)

    @classmethod
    def fingerprint(cls, values: dict, workspace: Path) -> str | None:
        backend = values.get("backend", "draft")
        if backend in (None, "", "draft"):
            return None  # draft results keep the keys they always had
        choice = choose(backend, values.get("model", ""), cls.task, workspace)
        # auto on a machine without the weights renders the draft: cache it as such, and re-render
        # once the model is there; a re-pulled model (new snapshot) re-renders too
        return "draft" if choice.located is None else f"model={choice.located.identity}"


def resolve(ctx, backend: str, model: str = "", task: str | None = None):
    """The loaded model for this call (a ``LoadedModel``), or None to render the draft.

    Inside a run the executor has loaded it already. When run() is called directly (node tests,
    scripts) a diffusers/auto choice is loaded here through the process-wide model manager."""
    loaded = ctx.models.get(PIPELINE)
    if loaded is not None:
        return loaded
    if backend in (None, "", "draft"):
        return None
    if task is None:
        raise NodeError(f"backend {backend!r} needs a model task", field="backend", fix="use backend draft")
    choice = choose(backend, model, task, ctx.workspace)
    if choice.located is None:
        ctx.warn(f"backend auto: {choice.reason}; rendering the draft")
        return None
    from reelgraph.graph import default_manager
    with default_manager().use(choice.needs(), report=lambda m: ctx.progress(0.0, m)) as got:
        return got[PIPELINE]
