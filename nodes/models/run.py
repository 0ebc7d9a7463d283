"""Calling a loaded pipeline from a node: seeds, per-step progress and cancellation, sizes, images.

``call(ctx, pipe, steps=..., **kwargs)`` runs a diffusers pipeline with a step callback that reports
``node_progress`` for every denoising step and raises ``Cancelled`` at the next step after Stop, so
nothing half-made is stored. Older pipelines take ``callback``/``callback_steps``, newer ones
``callback_on_step_end``: both are handled.
"""

from __future__ import annotations

import inspect
from typing import Any

from reelgraph.graph import NodeError


def generator(seed: int):
    """A CPU generator: the same seed gives the same noise on every device."""
    import torch
    return torch.Generator("cpu").manual_seed(int(seed) % (2**63))


def accepts(pipe, name: str) -> bool:
    return name in inspect.signature(type(pipe).__call__).parameters


def fewest_steps(pipe) -> int:
    """The fewest denoising steps this pipeline's scheduler gives a picture from: a flow-match schedule
    stretched to a terminal shift (LTX-Video) divides by zero at one step and makes NaN frames."""
    config = getattr(getattr(pipe, "scheduler", None), "config", None) or {}
    return 2 if config.get("shift_terminal") else 1


def call(ctx, pipe, *, steps: int, start: float = 0.0, end: float = 1.0, label: str = "step",
         **kwargs) -> Any:
    """Run ``pipe(**kwargs)`` with progress from ``start`` to ``end`` over ``steps`` steps."""
    import torch
    steps = max(1, int(steps))
    span = end - start

    def tick(i: int) -> None:
        ctx.progress(start + span * min(1.0, (i + 1) / steps), f"{label} {min(i + 1, steps)}/{steps}")

    params = inspect.signature(type(pipe).__call__).parameters
    if "callback_on_step_end" in params:
        def on_step_end(_pipe, i, _t, callback_kwargs):
            tick(i)
            return callback_kwargs
        kwargs["callback_on_step_end"] = on_step_end
    elif "callback" in params:
        kwargs["callback"] = lambda i, _t, _latents: tick(i)
        if "callback_steps" in params:
            kwargs["callback_steps"] = 1
    ctx.progress(start, f"{label} 0/{steps}")
    with torch.inference_mode():
        return pipe(**kwargs)


def model_size(width: int, height: int, short_side: int, multiple: int) -> tuple[int, int]:
    """The size to render at: the frame's aspect with the model's native short side, both sides a
    multiple of what the model needs. The node resizes the result to the frame size it promised."""
    scale = short_side / min(width, height)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return int(w), int(h)


def preset_of(loaded):
    """The preset a loaded model came from, or whose hub repo it is (``model`` given as
    ``stabilityai/sd-turbo`` behaves as ``sd-turbo``); None for other folders and repos."""
    from .presets import presets
    known = presets()
    found = known.get(loaded.info.get("preset") or "")
    if found is None:
        repo = label(loaded)
        found = next((p for p in known.values() if p.repo == repo), None)
    return found


FOLDER_DEFAULTS = "reelgraph.json"  # {"defaults": {...}} beside a model's config: a local preset


def folder_defaults(loaded) -> dict:
    """Defaults a model folder carries in ``reelgraph.json`` (same keys as a preset's defaults), so
    a local model (a fine-tune, a test model) runs at its own size, frame count and steps."""
    import json
    from pathlib import Path
    obj = loaded.obj
    path = loaded.info.get("path") or getattr(obj, "name_or_path", None) or \
        getattr(getattr(obj, "config", None), "_name_or_path", None)
    if not path:
        return {}
    try:
        data = json.loads((Path(path) / FOLDER_DEFAULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get("defaults") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def default(loaded, name: str, fallback):
    """A default (steps, size, fps...) for this model: the folder's reelgraph.json, then its
    preset's, else ``fallback``."""
    own = folder_defaults(loaded)
    if name in own:
        return own[name]
    preset = preset_of(loaded)
    return preset.default(name, fallback) if preset is not None else fallback


def label(loaded) -> str:
    """What the user named: a preset id, a repo id or a folder (for messages and file meta)."""
    return str(loaded.info.get("label") or loaded.info.get("pipeline") or "model")


def check_pipeline(loaded, allowed: tuple[str, ...], what: str) -> None:
    """Fail clearly when ``model`` names a pipeline of another kind (an audio model on a keyframe)."""
    name = loaded.info.get("pipeline") or type(loaded.obj).__name__
    if not any(name == a or type(loaded.obj).__name__ == a for a in allowed):
        raise NodeError(f"model loads as {name}, which cannot {what}", field="model",
                        fix=f"choose a model whose pipeline is one of: {', '.join(allowed)} "
                            "(reelgraph models list)")
