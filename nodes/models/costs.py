"""What a model call will cost before it ever ran here: the shipped per-preset table (costs.json).

Each figure was measured on a reference GPU (by ``bench/gpu.py``: ``source: measured``) or taken
from a published benchmark (``source: published``, with ``ref``). ``prior()`` scales the closest
figure to a call: by its steps, its pixels × frames (or seconds of audio, or tokens), and across
GPUs by their dense bf16 throughput; it also says when the model will not fit this machine and which
setting fixes it. Measured calls on this machine replace all of this (graph/estimates.py).
Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from reelgraph.graph import Prior

from . import device, presets

COSTS_FILE = Path(__file__).with_name("costs.json")
OFFLOAD_SLOWDOWN = {"none": 1.0, "model": 1.3, "sequential": 6.0}  # rough: see docs/estimates.md


@lru_cache(maxsize=1)
def table() -> dict:
    try:
        data = json.loads(COSTS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"gpus": {}, "figures": []}
    data.setdefault("gpus", {})
    data.setdefault("figures", [])
    return data


def gpu_key(name: str) -> str | None:
    """The table's key for a GPU as nvidia-smi names it ("NVIDIA H100 80GB HBM3" -> "H100")."""
    low = name.lower()
    best = None
    for key, info in table()["gpus"].items():
        for alias in [key, *info.get("names", [])]:
            if alias and alias.lower() in low and (best is None or len(alias) > best[1]):
                best = (key, len(alias))
    return best[0] if best else None


def _tflops(key: str | None) -> float | None:
    if key is None:
        return None
    value = table()["gpus"].get(key, {}).get("bf16_tflops")
    return float(value) if value else None


def _units(preset: presets.Preset, values: dict) -> tuple[str, float]:
    """What the call's time counts (steps, tokens, seconds of audio) and how many."""
    if preset.task == "text":
        return "token", float(values.get("max_new_tokens") or preset.default("max_new_tokens", 160))
    if preset.task == "speech":
        return "audio_second", 1.0  # scaled by the audio's length below
    steps = values.get("steps")
    steps = steps if isinstance(steps, (int, float)) and steps > 0 else preset.default("steps", 1)
    return "step", float(steps)


def _size(drivers: dict) -> tuple[float, float]:
    """(pixels × frames, seconds of audio) the call makes (reads, for an upscaler of frames)."""
    pf = (drivers.get("out_video") or drivers.get("out_image") or drivers.get("in_video")
          or drivers.get("in_image") or 0.0)
    return float(pf), float(drivers.get("out_audio") or 0.0)


def _figure_size(fig: dict) -> tuple[float, float]:
    w, h, f = fig.get("width") or 0, fig.get("height") or 0, fig.get("frames") or 0
    return float(w * h * max(1, f)) if w and h else 0.0, float(fig.get("audio_seconds") or 0.0)


def _native(preset: presets.Preset) -> tuple[float, float]:
    d = preset.defaults
    w, h = d.get("width"), d.get("height")
    if not (w and h) and d.get("short_side"):
        w = h = d["short_side"]
    frames = d.get("frames", 1)
    audio = d.get("max_seconds", 0)
    return (float(w) * float(h) * float(frames) if w and h else 0.0), float(audio or 0)


def choose_figure(preset_id: str, gpu: str | None, dtype: str | None) -> dict | None:
    """The figure closest to this machine: the same GPU (then dtype, then no offload), else the
    GPU figure with the highest throughput we can scale from; CPU only from CPU figures."""
    figs = [f for f in table()["figures"] if f.get("preset") == preset_id and f.get("s_per_unit") is not None]
    if gpu == "cpu":
        figs = [f for f in figs if f.get("gpu") == "cpu"]
    else:
        figs = [f for f in figs if f.get("gpu") != "cpu"]
    if not figs:
        return None

    def rank(f: dict) -> tuple:
        return (f.get("gpu") != gpu, f.get("dtype") != dtype, f.get("offload", "none") != "none",
                f.get("source") != "measured", -(_tflops(f.get("gpu")) or 0.0))
    return sorted(figs, key=rank)[0]


def _forced_offload() -> str | None:
    forced = os.environ.get("REELGRAPH_OFFLOAD", "").strip().lower()
    return forced if forced in device.OFFLOADS else None


def prior(task: str, values: dict, drivers: dict, models: tuple) -> Prior | None:
    """A model call's prior (see the module docstring); None for draft calls."""
    seen = device.probe()
    if models:
        need = models[0]
        preset = presets.presets().get(need.option("preset") or need.id)
        vram_native = preset.vram_gb if preset else need.vram_gb
        label = need.id
    else:
        # not resolved (its weights are not here yet): what it will cost once they are
        backend, ref = values.get("backend"), (values.get("model") or "").strip()
        if backend not in ("diffusers", "auto") or (backend == "auto" and seen.accelerator is None):
            return None
        preset = presets.presets().get(ref) if ref else presets.default_preset(task, seen.tier)
        if preset is None:
            return None
        vram_native, label = preset.vram_gb, preset.id
    memory_gb = seen.memory_gb
    if os.environ.get("REELGRAPH_MODEL_MEMORY_GB") and seen.accelerator:
        memory_gb = min(memory_gb, float(os.environ["REELGRAPH_MODEL_MEMORY_GB"]))
    tier = seen.tier if not os.environ.get("REELGRAPH_MODEL_MEMORY_GB") or not seen.accelerator \
        else ("datacenter" if memory_gb >= device.DATACENTER_GB else "consumer")
    warnings: list[dict] = []
    if preset is None:  # a local folder or hub repo: only its size is known
        return Prior(vram_mb=vram_native * 1e3 if seen.accelerator and vram_native else None,
                     source=f"no table figure for {label}", model=label)
    pf, audio = _size(drivers)
    npf, naudio = _native(preset)
    scale = (pf / npf) if pf and npf else ((audio / naudio) if audio and naudio else 1.0)
    vram_gb = vram_native * (1.0 + 0.25 * max(0.0, scale - 1.0)) if seen.accelerator else None
    gpu = "cpu" if seen.accelerator is None else (gpu_key(seen.name) or seen.name)
    offload = device.offload_for(vram_gb or 0.0, memory_gb, tier, _forced_offload()) if seen.accelerator else "none"
    warnings += _fit_warnings(preset, vram_gb, memory_gb, offload, seen.accelerator is not None)
    fig = choose_figure(preset.id, gpu, preset.dtype)
    if fig is None:
        where = "a CPU" if gpu == "cpu" else gpu
        return Prior(vram_mb=vram_gb * 1e3 if vram_gb else None, warnings=warnings, model=preset.id,
                     ram_mb=_cpu_ram_gb(preset) * 1e3 if gpu == "cpu" else None,
                     source=f"no figure for {preset.id} on {where} in the table")
    unit, units = _units(preset, values)
    fpf, faudio = _figure_size(fig)
    if unit == "audio_second":
        units = audio or faudio or 1.0
        size_ratio = 1.0
    elif fpf and pf:
        size_ratio = pf / fpf
    elif faudio and audio:
        size_ratio = audio / faudio
    else:
        size_ratio = 1.0
    seconds = (float(fig.get("fixed_s") or 0.0) + float(fig["s_per_unit"]) * units) * size_ratio
    spread = 0.35 if fig.get("source") == "measured" else 0.5
    note = ""
    if fig.get("gpu") != gpu:
        ours, theirs = _tflops(gpu), _tflops(fig.get("gpu"))
        if ours and theirs:
            seconds *= theirs / ours
            note = f", scaled from {fig.get('gpu')} by bf16 throughput"
        else:
            note = f", on {fig.get('gpu')} (this GPU is not in the table: not scaled)"
        spread = 0.75
    if fig.get("offload", "none") != offload:
        seconds *= OFFLOAD_SLOWDOWN.get(offload, 1.0) / OFFLOAD_SLOWDOWN.get(fig.get("offload", "none"), 1.0)
    source = (f"table: {preset.id} {fig.get('source', 'published')} on {fig.get('gpu')}"
              f"{note} ({fig.get('ref', '')})")
    load = float(fig.get("load_s") or 0.0) or _load_guess(preset)
    fig_vram = fig.get("vram_gb")
    if fig_vram and seen.accelerator:
        vram_gb = max(vram_gb or 0.0, float(fig_vram) * (1.0 + 0.25 * max(0.0, size_ratio - 1.0)))
    return Prior(seconds=seconds, load_seconds=load, vram_mb=vram_gb * 1e3 if vram_gb else None,
                 ram_mb=(float(fig["ram_gb"]) * 1e3 if fig.get("ram_gb") else
                         (_cpu_ram_gb(preset) * 1e3 if gpu == "cpu" else None)),
                 spread=spread, source=source, warnings=warnings, model=preset.id)


def _load_guess(preset: presets.Preset) -> float:
    # reading safetensors from a local disk at ~1.5 GB/s, plus building the modules
    return 2.0 + preset.download_gb / 1.5


def _cpu_ram_gb(preset: presets.Preset) -> float:
    # fp32 on the CPU: twice the half-precision weights, plus activations
    return preset.vram_gb * (2.0 if preset.dtype != "float32" else 1.0) * 1.1


def _fit_warnings(preset: presets.Preset, vram_gb: float | None, memory_gb: float, offload: str,
                  gpu: bool) -> list[dict]:
    if not gpu:
        ram = device._ram_gb()
        need = _cpu_ram_gb(preset)
        if need > 0.9 * ram:
            return [{"message": f"{preset.id} needs about {need:.0f} GB of RAM on the CPU; this machine has "
                                f"{ram:.0f} GB", "fix": "use backend draft, or a smaller preset: "
                                + ", ".join(p.id for p in presets.for_task(preset.task) if _cpu_ram_gb(p) <= 0.9 * ram)
                                or "use backend draft"}]
        return []
    smaller = [p.id for p in presets.for_task(preset.task) if p.vram_gb <= 0.85 * memory_gb and p.id != preset.id]
    other = f"; or a preset that fits: {', '.join(smaller)}" if smaller else ""
    need = vram_gb or 0.0
    if offload == "none" and need > memory_gb:
        return [{"message": f"{preset.id} needs about {need:.0f} GB of GPU memory; this GPU has {memory_gb:.0f} GB",
                 "fix": f"set REELGRAPH_OFFLOAD=model (parts of the model wait in RAM), lower the resolution "
                        f"or frame count{other}"}]
    if offload == "sequential":
        return [{"message": f"{preset.id} (about {need:.0f} GB) only fits this {memory_gb:.0f} GB GPU with "
                            "sequential offload, several times slower",
                 "fix": f"lower the resolution or frame count{other}"}]
    return []
