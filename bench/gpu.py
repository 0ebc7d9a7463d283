"""GPU figures for the cost table: every preset's real architecture (random weights) at its native size.

    .venv/bin/python bench/gpu.py                       # on a CUDA machine: at most --budget s (480)
    .venv/bin/python bench/gpu.py --update-table        # ... and merge the figures into nodes/models/costs.json
    .venv/bin/python bench/gpu.py --presets sd-turbo,ltx-video --no-storyboard
    .venv/bin/python bench/gpu.py --tiny --out X.json   # the same code path on the CPU with tiny models

Nothing is downloaded: ``reelgraph.nodes.models.fullsize`` builds each preset's real architecture
with random weights, which cost what trained ones cost per step, per token, per second of speech.
For each preset, in a subprocess of its own (memory freed, a crash ends only that preset), in order
of value, within a time budget (what would not fit is skipped, and said so):

1. build the full-size model on the GPU in the preset's dtype and ``save_pretrained`` it to a
   folder on local disk (``$REELGRAPH_MODELS/<preset>``), then load it through OUR loader path: the
   preset is located (``presets.locate``) and the model manager loads it with ``DiffusersLoader`` /
   ``TransformersLoader`` under the device policy. The largest (Wan 14B: 33 GB of bf16 weights plus
   umT5-XXL) are built directly on the GPU through the same manager instead (``load_s`` null).
2. call it at its native size (presets.json defaults): a warm-up, then one timed call of a few
   steps whose step callback timestamps give seconds per step (CUDA-synchronised); the rest of the
   call is the fixed per-call cost (text encoders, VAE decode). LLMs: two token counts give seconds
   per token and the prefill; VITS: two sentence lengths give seconds per second of audio.
3. again on a simulated 24 GB card (``REELGRAPH_MODEL_MEMORY_GB=24``, the consumer policy, and
   ``REELGRAPH_OFFLOAD`` = what that policy picks) where that changes the offload mode.

Then the whole storyboard (``workflows/storyboard_to_clip.json``) runs with every model node on the
datacenter defaults (``backend=diffusers``, full-size random models), one 2 s shot at reduced step
counts by default (``--set NODE.PARAM=VALUE`` to change), timed per node.

Time budget (default 480 s, planned for one H100/H200; guesses until a run prints its "took"
lines, and scaled by how far off the finished presets were): about 150 s are kept for the
storyboard; the presets get the rest in PLAN order (sd-turbo 20, mms-tts-eng 12, sd-x4-upscaler 20,
stable-audio-open 25, qwen2.5-7b 40, flux-schnell 90 with its 24 GB run, wan2.1-i2v-480p 120, then
ltx-video 45, sdxl-turbo 25, ...): what would not fit is skipped, a preset past the time left is
killed (its finished figures kept).

Every figure prints as ``name: value unit (note)``; ``--out`` (default out/gpu-figures.json) gets
them in the schema of docs/estimates.md (``source: measured``); ``--update-table`` merges them into
nodes/models/costs.json (a measured figure replaces the measured one of the same preset, GPU, dtype
and offload; published figures stay). ``--tiny`` runs the same path on the CPU with tiny builds
(tests); its figures are plumbing, not costs, and never go into the shipped table. Without CUDA and
without ``--tiny`` it says what it would measure and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "nodes" / "models" / "costs.json"
MARK = "@@"  # worker -> driver: machine-readable lines ("@@figure {...}", "@@skip {...}", "@@storyboard {...}")
FIGURE_KEYS = ("preset", "gpu", "dtype", "offload", "width", "height", "frames", "audio_seconds", "unit", "units",
               "s_per_unit", "fixed_s", "load_s", "vram_gb", "ram_gb", "source", "ref", "date")


def line(name: str, value: str, unit: str, note: str) -> None:
    print(f"{name}: {value}{' ' + unit if unit else ''} ({note})", flush=True)


@dataclasses.dataclass(frozen=True)
class Item:
    preset: str
    est_s: float  # H100 seconds for the whole subprocess (start, build, save, load, calls): a planning guess
    direct: bool = False  # built on the GPU through the manager, no save/load round trip (load_s null)
    consumer: bool = False  # also on a simulated 24 GB card, where the consumer policy offloads it


# In order of value: the cpu-tier keyframe model, then the storyboard's datacenter defaults (cheap
# ones first), then the consumer defaults, then the rest. est_s are guesses for one H100 (80 GB);
# a run scales the remaining ones by how far off the finished ones were, and prints "took" lines.
PLAN = (
    Item("sd-turbo", 20),
    Item("mms-tts-eng", 12),
    Item("sd-x4-upscaler", 20),
    Item("stable-audio-open", 25),
    Item("qwen2.5-7b-instruct", 40),
    Item("flux-schnell", 90, consumer=True),  # 34 GB round trip; model offload on a 24 GB card
    Item("wan2.1-i2v-480p", 120, direct=True),  # 16.4 B + umT5-XXL: 46 GB of bf16, built on the GPU
    Item("ltx-video", 45),
    Item("sdxl-turbo", 25),
    Item("qwen2.5-1.5b-instruct", 18),
    Item("audioldm2-music", 25),
    Item("svd-xt", 45),
    Item("vits-ljs", 12),
    Item("flux-dev", 40, direct=True),  # the schnell transformer plus a guidance embedder
    Item("wan2.1-flf2v-720p", 240, direct=True),  # 75k tokens a step at 1280x720x81
)
STORYBOARD_EST_S = 150.0
STORYBOARD_DIRECT_GB = 20.0  # storyboard models larger than this are built on the GPU (disk: 64 GB)
# storyboard node -> task (the model each runs is the task's datacenter default in presets.json)
STORYBOARD_NODES = {"expand": "text", "keyframe": "text_to_image", "animate": "image_to_video",
                    "upscale": "upscale", "music": "music", "voice": "speech"}
ONE_SHOT = ("# Bench\nstyle: moody watercolour storyboard, teal and amber light\ncharacters:\n"
            "- Mara: an old lighthouse keeper, long grey braid, yellow oilskin coat\n\n## Shot 1\n"
            "Wide view of a lighthouse on a cliff at dusk, waves crashing on the rocks below.\nduration: 2\n"
            "camera: push_in\nnarration: Every night for forty years, Mara lit the lamp.\n")
# what keeps the storyboard inside its budget: one 2 s shot, 8 fps, few denoising steps
STORYBOARD_GPU = {"story.script": ONE_SHOT, "keyframe.resolution": 240, "animate.fps": 8, "timeline.fps": 8,
                  "animate.steps": 4, "music.steps": 8}
STORYBOARD_TINY = {"story.script": ONE_SHOT, "keyframe.resolution": 64, "keyframe.steps": 2, "animate.fps": 8,
                   "timeline.fps": 8, "music.steps": 2}
UPSCALE_STEPS_GPU = 4  # the ×4 upscaler has no steps param: its folder's reelgraph.json says it

PROMPT = ("a lighthouse keeper climbs the spiral stairs at dusk, lantern in hand, rain on the windows, "
          "moody watercolour, teal and amber light")
NEGATIVE = "blurry, low quality, watermark"
SENTENCES = ("Every night, Mara lit the lamp.",
             "Every night for forty years, Mara climbed the spiral stairs of the old lighthouse and lit the "
             "great lamp, so that the fishing boats could find the harbour through the wind and the rain.")


# -- worker side (one process per preset on a GPU; all presets in one process with --tiny)

def _quiet() -> None:
    import warnings
    for k, v in (("TRANSFORMERS_VERBOSITY", "error"), ("DIFFUSERS_VERBOSITY", "error"),
                 ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_OFFLINE", "1"),
                 ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):
        os.environ.setdefault(k, v)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*(deprecated|torchvision|Should have t[ab]).*")


def _emit(kind: str, obj: dict) -> None:
    print(f"{MARK}{kind} {json.dumps(obj)}", flush=True)


def _sync() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _free() -> None:
    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _rss_gb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 1e9


@contextmanager
def _simulated_card(memory_gb: float | None, offload: str | None) -> Iterator[None]:
    """The consumer device policy of a ``memory_gb`` card (None: this card's own policy), with
    ``REELGRAPH_MODEL_MEMORY_GB`` and ``REELGRAPH_OFFLOAD`` set as a user of such a card would."""
    from reelgraph.nodes.models import device
    if memory_gb is None:
        yield
        return
    real = device.policy
    fake = dataclasses.replace(real(), tier="consumer", memory_gb=memory_gb, offload=offload)
    saved = {k: os.environ.get(k) for k in ("REELGRAPH_MODEL_MEMORY_GB", "REELGRAPH_OFFLOAD")}
    os.environ["REELGRAPH_MODEL_MEMORY_GB"] = f"{memory_gb:g}"
    os.environ["REELGRAPH_OFFLOAD"] = offload or "none"
    device.policy = lambda: fake
    try:
        yield
    finally:
        device.policy = real
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class DirectLoader:
    """The diffusers loader, except for the folders in ``direct`` (folder -> preset id): those are
    built with random weights on the device the policy picks, in its dtype, through the same
    model manager (for models too large to save and load back within the budget)."""

    def __init__(self, inner, direct: dict[str, str], tiny: bool):
        self.inner, self.direct, self.tiny = inner, direct, tiny

    def key(self, need) -> tuple:
        return self.inner.key(need)

    def load(self, need, report):
        pid = self.direct.get(str(Path(need.option("path") or "").resolve()))
        if pid is None:
            return self.inner.load(need, report)
        from reelgraph.graph import LoadedModel, NodeError
        from reelgraph.nodes.models import fullsize, loading
        dev, dtype, offload = loading._plan(need)
        if offload != "none":
            raise NodeError(f"{pid} is built directly on the device, which this bench does only without offload "
                            f"(the policy asks for {offload})", field="model")
        pipe = fullsize.build(pid, device=dev, dtype=dtype, tiny=self.tiny)
        return LoadedModel(pipe, loading.module_bytes(pipe.components.values()), device=dev, dtype=dtype,
                           info={"applied": [f"{dtype} on {dev}", "built on the device (no load)"], "offload": offload,
                                 "pipeline": type(pipe).__name__, "preset": need.option("preset") or None,
                                 "label": need.id, "path": need.option("path"), "direct": True},
                           unload=loading._free_accelerator)


def _install_direct(direct: dict[str, str], tiny: bool) -> None:
    import reelgraph.nodes  # noqa: F401  (registers the real loaders)
    from reelgraph.graph import register_loader
    from reelgraph.graph.models import _LOADERS
    inner = _LOADERS["diffusers"]
    if isinstance(inner, DirectLoader):
        inner.direct.update(direct)
        return
    register_loader("diffusers", DirectLoader(inner, dict(direct), tiny))


def _stub(folder: Path, pid: str, tiny: bool) -> None:
    """A folder that locates as the preset's (model_index.json names the pipeline) for a direct build."""
    from reelgraph.nodes.models import fullsize
    folder.mkdir(parents=True, exist_ok=True)
    cls = fullsize.preset(pid).pipeline
    (folder / "model_index.json").write_text(json.dumps({"_class_name": cls}), encoding="utf-8")
    fullsize.write_defaults(folder, fullsize.defaults(pid, tiny=tiny))


def _needs(pid: str, root: Path):
    """The model needs a node has for this preset id, located as the nodes locate it (in
    ``$REELGRAPH_MODELS/<id>``). The nodes' CPU guard against GPU-tier presets is not applied: the
    tiny builds of every preset run on a CPU."""
    from reelgraph.nodes.common.backends import BackendChoice
    from reelgraph.nodes.models import device, presets
    p = presets.presets()[pid]
    located = presets.locate(pid, p.task, tier=device.probe().tier, workspace=root)
    return BackendChoice("diffusers", located).needs()


def _attach(pipe, kwargs: dict, stamps: list[float]) -> None:
    """A step callback that records a synchronised timestamp at the end of every step."""
    import inspect

    params = inspect.signature(type(pipe).__call__).parameters

    def mark() -> None:
        _sync()
        stamps.append(time.perf_counter())

    if "callback_on_step_end" in params:
        def on_end(_pipe, _i, _t, callback_kwargs):
            mark()
            return callback_kwargs
        kwargs["callback_on_step_end"] = on_end
    elif "callback" in params:
        kwargs["callback"] = lambda *_: mark()
        if "callback_steps" in params:
            kwargs["callback_steps"] = 1


def _timed(pipe, steps: int, kwargs: dict) -> tuple[float, float | None]:
    """(total seconds, median seconds per step from the 2nd step on) of one call of ``steps`` steps."""
    import torch
    stamps: list[float] = []
    kw = dict(kwargs, num_inference_steps=steps)
    _attach(pipe, kw, stamps)
    _sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        pipe(**kw)
    _sync()
    total = time.perf_counter() - t0
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    return total, (statistics.median(deltas) if deltas else None)


def _image(w: int, h: int, seed: int = 0):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _round(x: float, m: int) -> int:
    return max(m, int(round(x / m)) * m)


def _call_plan(p, pipe, d: dict) -> tuple[dict, dict]:
    """(pipeline kwargs at the native size, the figure's size fields)."""
    import torch
    gen = torch.Generator("cpu").manual_seed(0)
    task, name = p.task, type(pipe).__name__
    if task == "text_to_image":
        side = _round(float(d.get("short_side", 512)), int(d.get("multiple", 8)))
        kw: dict[str, Any] = {"prompt": PROMPT, "width": side, "height": side,
                              "guidance_scale": float(d.get("guidance", 0.0)), "generator": gen, "output_type": "np"}
        if d.get("max_sequence_length"):
            kw["max_sequence_length"] = int(d["max_sequence_length"])
        return kw, {"width": side, "height": side, "frames": 1, "audio_seconds": 0}
    if task == "image_to_video":
        w, h = int(d["width"]), int(d["height"])
        frames = int(d["frames"])
        kw = {"image": _image(w, h), "width": w, "height": h, "num_frames": frames, "generator": gen,
              "output_type": "np"}
        if name == "StableVideoDiffusionPipeline":
            kw.update(fps=int(d.get("fps", 7)), motion_bucket_id=int(d.get("motion_bucket_id", 127)),
                      decode_chunk_size=int(d.get("decode_chunk_size", 8)))
        else:
            kw.update(prompt=PROMPT, negative_prompt=NEGATIVE, guidance_scale=float(d.get("guidance", 3.0)))
            if d.get("max_sequence_length"):
                kw["max_sequence_length"] = int(d["max_sequence_length"])
            if "last_frame" in p.supports:
                kw["last_image"] = _image(w, h, seed=1)
        return kw, {"width": w, "height": h, "frames": frames, "audio_seconds": 0}
    if task == "upscale":
        tile = int(d.get("tile", 128))
        kw = {"prompt": "", "image": _image(tile, tile), "noise_level": int(d.get("noise_level", 20)),
              "guidance_scale": float(d.get("guidance", 0.0)), "generator": gen, "output_type": "np"}
        return kw, {"width": 4 * tile, "height": 4 * tile, "frames": 1, "audio_seconds": 0}
    if task == "music":
        seconds = float(d.get("max_seconds", 10.0))
        kw = {"prompt": "calm, hopeful, cinematic, 90 BPM", "negative_prompt": "low quality",
              "guidance_scale": float(d.get("guidance", 3.5)), "generator": gen, "num_waveforms_per_prompt": 1,
              "output_type": "np"}
        if name == "StableAudioPipeline":
            seconds = min(seconds, pipe.transformer.config.sample_size * pipe.vae.hop_length
                          / pipe.vae.config.sampling_rate)
            kw["audio_end_in_s"] = seconds
        else:
            kw["audio_length_in_s"] = seconds
        return kw, {"width": 0, "height": 0, "frames": 0, "audio_seconds": round(seconds, 3)}
    raise ValueError(f"no diffusers call for task {task}")


def _figure(p, *, gpu: str, dtype: str, offload: str, size: dict, unit: str, units: float,
            s_per_unit: float | None, fixed_s: float | None, load_s: float | None, vram_gb: float | None,
            ram_gb: float | None, ref: str) -> dict:
    def r3(x: float | None) -> float | None:
        return None if x is None else round(float(x), 5)

    fig = {"preset": p.id, "gpu": gpu, "dtype": dtype, "offload": offload, **size, "unit": unit,
           "units": round(units, 3) if isinstance(units, float) else units,
           "s_per_unit": r3(s_per_unit), "fixed_s": r3(None if fixed_s is None else max(0.0, fixed_s)),
           "load_s": None if load_s is None else round(load_s, 2),
           "vram_gb": None if vram_gb is None else round(vram_gb, 2),
           "ram_gb": None if ram_gb is None else round(ram_gb, 2), "source": "measured", "ref": ref,
           "date": datetime.date.today().isoformat()}
    return {k: fig[k] for k in FIGURE_KEYS}


def _measure_loaded(p, loaded, d: dict, *, cuda: bool, timed_steps: int, warm: dict) -> dict:
    """Time one loaded model at its native size: the figure's measured fields."""
    import torch
    obj = loaded.obj
    peak = (lambda: torch.cuda.max_memory_allocated() / 1e9) if cuda else (lambda: None)

    def reset() -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats()

    if p.task == "text":
        return _measure_llm(obj["model"], obj["tokenizer"], d, reset, peak)
    if p.task == "speech":
        return _measure_vits(obj["model"], obj["tokenizer"], reset, peak)
    kw, size = _call_plan(p, obj, d)
    warm_kw = dict(kw)
    if warm.get("frames") and "num_frames" in kw:
        warm_kw["num_frames"] = int(warm["frames"])
    _timed(obj, 2, warm_kw)  # warm-up: kernels chosen, lazy state made, caches filled
    reset()
    total, per_step = _timed(obj, timed_steps, kw)
    fixed = None if per_step is None else total - timed_steps * per_step
    return {"size": size, "unit": "step", "units": timed_steps, "s_per_unit": per_step, "fixed_s": fixed,
            "vram_gb": peak(), "total_s": total}


def _measure_llm(model, tokenizer, d: dict, reset, peak) -> dict:
    """Seconds per generated token and the fixed cost (prefill, set-up), from two token counts. The
    prompt is the expand node's chat for a typical shot, as token ids of the length a real BPE
    tokenizer gives it (about 4 characters a token; the tiny in-memory tokenizer gives 1)."""
    import torch
    from reelgraph.nodes.story import _expand_model as em
    text = em.SYSTEM + "\n" + em.user_message(PROMPT, camera="push_in", characters={"Mara": "an old keeper"},
                                             style="moody watercolour", detail="medium")
    n_prompt = max(16, len(text) // 4)
    vocab = int(model.config.vocab_size)
    ids = torch.randint(0, vocab, (1, n_prompt), generator=torch.Generator().manual_seed(0)).to(model.device)
    mask = torch.ones_like(ids)
    long_n = int(d.get("max_new_tokens", 160))
    short_n = max(2, min(16, long_n // 4))

    def gen(n: int) -> float:
        _sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)
        _sync()
        return time.perf_counter() - t0

    gen(short_n)  # warm-up
    reset()
    t_short = gen(short_n)
    t_long = gen(long_n)
    per = (t_long - t_short) / (long_n - short_n)
    fixed: float | None = t_short - short_n * per
    if per <= 0:  # noise swamped the difference (tiny models): the plain average, no fixed part
        per, fixed = t_long / long_n, None
    return {"size": {"width": 0, "height": 0, "frames": 0, "audio_seconds": 0}, "unit": "token", "units": long_n,
            "s_per_unit": per, "fixed_s": fixed, "vram_gb": peak(), "total_s": t_long,
            "note": f"prompt {n_prompt} tokens, greedy"}


def _measure_vits(model, tokenizer, reset, peak) -> dict:
    """Seconds per second of speech (and the fixed cost per call) from a short and a long sentence."""
    import torch
    rate = int(model.config.sampling_rate)
    dev = next(model.parameters()).device

    def speak(text: str) -> tuple[float, float]:
        ids = {k: v.to(dev) for k, v in tokenizer(text, return_tensors="pt").items()
               if k in ("input_ids", "attention_mask")}
        torch.manual_seed(0)
        _sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            wave = model(**ids).waveform
        _sync()
        return time.perf_counter() - t0, wave.shape[-1] / rate

    speak(SENTENCES[0])  # warm-up
    reset()
    t1, a1 = speak(SENTENCES[0])
    t2, a2 = speak(SENTENCES[1])
    per = (t2 - t1) / (a2 - a1) if a2 > 1.5 * a1 else 0.0
    fixed: float | None = t1 - a1 * per
    if per <= 0:  # random durations made both about as long (or noise won): no fixed part to tell apart
        per, fixed = t2 / max(a2, 1e-6), None
    return {"size": {"width": 0, "height": 0, "frames": 0, "audio_seconds": round(a2, 3)}, "unit": "audio_second",
            "units": round(a2, 3), "s_per_unit": per, "fixed_s": fixed, "vram_gb": peak(), "total_s": t2,
            "note": f"{a1:.1f} s and {a2:.1f} s of speech"}


def measure_preset(item: Item, root: Path, *, tiny: bool, gpu: str, gpu_name: str, deadline: float) -> None:
    """Build, save, load through our loader, time: one @@figure line per mode measured."""
    import torch
    from reelgraph.graph import ModelManager
    from reelgraph.nodes.models import device, fullsize
    pid = item.preset
    p = fullsize.preset(pid)
    d = fullsize.defaults(pid, tiny=tiny)
    cuda = torch.cuda.is_available() and not tiny
    dev = "cuda" if cuda else "cpu"
    dtype = p.dtype if cuda else "float32"
    folder = root / pid
    t0 = time.perf_counter()
    if item.direct:
        _stub(folder, pid, tiny)
        _install_direct({str(folder.resolve()): pid}, tiny)
        how = "built on the device through the model manager, no save/load round trip"
    else:
        need_gb = fullsize.param_count(pid, tiny=tiny) * (2 if dtype != "float32" else 4) / 1e9
        free_gb = shutil.disk_usage(root).free / 1e9
        if need_gb > 0.9 * free_gb:
            _emit("skip", {"preset": pid, "reason": f"{need_gb:.0f} GB of weights, {free_gb:.0f} GB free on disk"})
            return
        fullsize.save(pid, folder, dtype, device=dev, tiny=tiny)
        _free()
        line(f"{pid}.save", f"{time.perf_counter() - t0:.1f}", "s",
             f"built on {dev} in {dtype} and saved with save_pretrained ({need_gb:.1f} GB)")
        how = "saved, then loaded by the model manager from local disk (just written: page cache warm)"
    modes: list[tuple[str, float | None, str | None]] = [("this card", None, None)]
    if cuda and item.consumer:
        pol = device.policy()
        consumer = dataclasses.replace(pol, tier="consumer", memory_gb=24.0, offload=None).offload_for(p.vram_gb)
        if consumer != pol.offload_for(p.vram_gb):
            modes.append(("24 GB card", 24.0, consumer))
    timed_steps = 3
    warm = {"frames": int(d.get("frame_step", 4)) + 1} if pid.startswith("wan") and not tiny else {}
    for label, memory, offload in modes:
        if label != "this card" and time.time() > deadline - 30:
            _emit("skip", {"preset": pid, "reason": f"{label}: no time left in its budget"})
            continue
        ok = False
        try:
            with _simulated_card(memory, offload):
                manager = ModelManager(budget_bytes=1 << 50)
                with manager.use(_needs(pid, root)) as got:
                    loaded = got["pipeline"]
                    direct = bool(loaded.info.get("direct"))
                    load_s = None if direct else loaded.seconds
                    got_offload = str(loaded.info.get("offload") or "none")
                    m = _measure_loaded(p, loaded, d, cuda=cuda, timed_steps=timed_steps, warm=warm)
                    ram = _rss_gb() if (not cuda or got_offload != "none") else None
                    dtype_run = loaded.dtype
                    del loaded, got
                manager.clear()
                ok = True
        except Exception as e:  # one mode failing (out of memory, say) must not lose the others
            _emit("skip", {"preset": pid, "reason": f"{label}: {type(e).__name__}: {str(e)[:300]}"})
        finally:
            _free()
        if not ok:
            continue
        when = datetime.date.today().isoformat()
        notes = ["random weights (full-size architecture)" if not tiny else "TINY random model: plumbing, not a cost",
                 how if not direct else "built on the device through the model manager (load_s null: no load)"]
        if memory:
            notes.append(f"simulated {memory:g} GB card: consumer policy, REELGRAPH_OFFLOAD={offload}, "
                         f"REELGRAPH_MODEL_MEMORY_GB={memory:g}")
            if m["vram_gb"] and m["vram_gb"] > memory:
                notes.append(f"peak {m['vram_gb']:.1f} GB exceeds {memory:g} GB: would not fit a real card")
        if m.get("note"):
            notes.append(m["note"])
        if warm:
            notes.append(f"warm-up call at {warm['frames']} frames")
        ref = f"bench/gpu.py on {gpu_name}, {when} ({'; '.join(notes)})"
        fig = _figure(p, gpu=gpu, dtype=dtype_run, offload=got_offload, size=m["size"], unit=m["unit"],
                      units=m["units"], s_per_unit=m["s_per_unit"], fixed_s=m["fixed_s"], load_s=load_s,
                      vram_gb=m["vram_gb"], ram_gb=ram, ref=ref)
        _emit("figure", fig)
        what = {"step": "s per step", "token": "s per token", "audio_second": "s per second of audio"}[m["unit"]]
        sz = (f"{fig['width']}x{fig['height']}" + (f"x{fig['frames']}" if fig["frames"] > 1 else "")
              if fig["width"] else (f"{fig['audio_seconds']} s of audio" if fig["audio_seconds"] else ""))
        fixed_txt = "?" if fig["fixed_s"] is None else f"{fig['fixed_s']:.3f}"
        load_txt = "null (built on the device)" if load_s is None else f"{load_s:.1f} s"
        vram_txt = f"{fig['vram_gb']} GB" if fig["vram_gb"] is not None else "n/a"
        per_txt = "?" if fig["s_per_unit"] is None else f"{fig['s_per_unit']:.4f}"
        line(f"{pid}.{'dc' if memory is None else 'c24'}", per_txt, what,
             ", ".join(x for x in (label, fig["dtype"], f"offload {got_offload}", sz) if x)
             + f"; fixed {fixed_txt} s per call, load {load_txt}, peak VRAM {vram_txt}")


def _storyboard_direct() -> set[str]:
    """Presets the storyboard builds on the device: the bench's direct ones and any that would not
    leave room on a 64 GB disk beside the others (FLUX: 34 GB)."""
    from reelgraph.nodes.models import presets
    known = presets.presets()
    big = {pid for pid, p in known.items() if p.download_gb > STORYBOARD_DIRECT_GB}
    return {i.preset for i in PLAN if i.direct} | big


class MakeRoom:
    """A loader that first evicts unused models from ``manager`` until the new one's ``vram_gb``
    fits its budget. The manager itself evicts only after a load, so on an 80 GB card the
    storyboard's Wan (46 GB of weights) would be loaded while Qwen-7B and FLUX (49 GB) are still
    resident, and run out of memory."""

    def __init__(self, inner, manager):
        self.inner, self.manager = inner, manager

    def key(self, need) -> tuple:
        return self.inner.key(need)

    def load(self, need, report):
        with self.manager._lock:  # the manager's own eviction, asked for earlier (bench only)
            self.manager._evict_for(int(float(need.vram_gb or 0.0) * 1e9))
        _free()
        return self.inner.load(need, report)


def _make_room_first(manager) -> None:
    from reelgraph.graph import register_loader
    from reelgraph.graph.models import _LOADERS
    for kind in ("diffusers", "transformers"):
        inner = _LOADERS[kind]
        register_loader(kind, MakeRoom(inner.inner if isinstance(inner, MakeRoom) else inner, manager))


def run_storyboard(root: Path, *, tiny: bool, sets: dict[str, Any], deadline: float) -> None:
    """The main workflow with every model node on its datacenter default (full-size random models)."""
    import reelgraph.nodes  # noqa: F401  (registers the node pack and its loaders)
    import torch
    from reelgraph import graph
    from reelgraph.graph import ModelManager
    from reelgraph.nodes.models import fullsize, presets
    from reelgraph.workflows import path
    cuda = torch.cuda.is_available() and not tiny
    dev = "cuda" if cuda else "cpu"
    direct_ids = _storyboard_direct()
    chosen: dict[str, str] = {}
    direct: dict[str, str] = {}
    for node, task in STORYBOARD_NODES.items():
        pid = presets.default_preset(task, "datacenter")
        if pid is None:
            raise RuntimeError(f"no datacenter default for {task}")
        chosen[node] = pid.id
        folder = root / pid.id
        if pid.id in direct_ids:
            if not (folder / "model_index.json").is_file():
                _stub(folder, pid.id, tiny)
            direct[str(folder.resolve())] = pid.id
        elif not ((folder / "model_index.json").is_file() or (folder / "config.json").is_file()):
            fullsize.save(pid.id, folder, pid.dtype if cuda else "float32", device=dev, tiny=tiny)
            _free()
    if direct:
        _install_direct(direct, tiny)
    manager = ModelManager()
    _make_room_first(manager)
    if not tiny:  # the upscaler's steps come from its folder: fewer, to fit every frame's tiles in the budget
        up = root / chosen["upscale"]
        fullsize.write_defaults(up, {**fullsize.defaults(chosen["upscale"]), "steps": UPSCALE_STEPS_GPU})
    overrides: dict[str, Any] = {}
    for node, pid_ in chosen.items():
        overrides[f"{node}.backend"] = "diffusers"
        # on the CPU the nodes refuse GPU-tier presets by id: the tiny folders go by path (same loaders)
        overrides[f"{node}.model"] = str((root / pid_).resolve()) if tiny else pid_
    overrides.update(STORYBOARD_TINY if tiny else STORYBOARD_GPU)
    overrides.update(sets)
    node_s: dict[str, float] = {}
    failures: list[str] = []

    def on_event(e) -> None:
        if e.event == "node_finished" and not e.cached:
            node_s[e.node] = node_s.get(e.node, 0.0) + float(e.seconds)
        elif e.event == "node_failed":
            failures.append(f"{e.node}: {(e.error or {}).get('message', '')}"[:300])

    t0 = time.perf_counter()
    with graph.LocalExecutor(None, models=manager) as executor:
        result = graph.run(path("storyboard_to_clip"), overrides=overrides, cache=False, executor=executor,
                           on_event=on_event)
    seconds = time.perf_counter() - t0
    shown = {k: (v if k != "story.script" else "<one 2 s shot>") for k, v in overrides.items()
             if not k.endswith((".backend", ".model"))}
    line("storyboard_total", f"{seconds:.1f}", "s", f"status {result.status}; models "
         + ", ".join(f"{n}={p}" for n, p in chosen.items()) + f"; {manager.loads} loads; settings {shown}"
         + (f"; upscaler steps {UPSCALE_STEPS_GPU}" if not tiny else ""))
    for node, s in sorted(node_s.items(), key=lambda kv: -kv[1]):
        line(f"storyboard.{node}", f"{s:.2f}", "s", "node wall time (all its calls)")
    _emit("storyboard", {"status": result.status, "seconds": round(seconds, 2), "models": chosen,
                         "loads": manager.loads, "nodes": {k: round(v, 3) for k, v in node_s.items()},
                         "failures": failures or [str(f) for f in result.failures][:5],
                         "settings": {k: str(v)[:80] for k, v in shown.items()}})
    manager.clear()
    _free()


def worker_main(args) -> int:
    _quiet()
    root = Path(args.workdir)
    os.environ["REELGRAPH_MODELS"] = str(root)
    import torch
    if args.tiny:
        torch.manual_seed(0)
    deadline = float(args.deadline)
    by_id = {i.preset: i for i in PLAN}
    for pid in [x for x in (args.worker or "").split(",") if x]:
        t0 = time.perf_counter()
        try:
            measure_preset(by_id[pid], root, tiny=args.tiny, gpu=args.gpu, gpu_name=args.gpu_name, deadline=deadline)
        except Exception as e:
            import traceback
            traceback.print_exc()
            _emit("skip", {"preset": pid, "reason": f"{type(e).__name__}: {str(e)[:300]}"})
        finally:
            _free()
        _emit("took", {"preset": pid, "seconds": round(time.perf_counter() - t0, 2)})
    if args.storyboard_here:
        try:
            run_storyboard(root, tiny=args.tiny, sets=_parse_sets(args.set), deadline=deadline)
        except Exception as e:
            import traceback
            traceback.print_exc()
            _emit("storyboard", {"status": "error", "error": f"{type(e).__name__}: {str(e)[:300]}"})
    return 0


# -- driver side

def _parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants NODE.PARAM=VALUE, got {pair!r}")
        v: Any = value
        for cast in (int, float):
            try:
                v = cast(value)
                break
            except ValueError:
                continue
        out[key.strip()] = v
    return out


def gpu_identity() -> tuple[str, str, float]:
    """(table key, full name, memory GB) of GPU 0, from nvidia-smi (torch as a fallback)."""
    name, mem = "", 0.0
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20).stdout.strip().splitlines()
            name, m = out[0].rsplit(",", 1)
            name, mem = name.strip(), float(m) / 1024
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            name = ""
    if not name:
        import torch
        name = torch.cuda.get_device_name(0)
        mem = torch.cuda.get_device_properties(0).total_memory / 2**30
    return short_gpu(name), name, mem


def short_gpu(name: str) -> str:
    """The cost table's key for this GPU ("NVIDIA H100 80GB HBM3" -> "H100"), else a short name."""
    try:
        from reelgraph.nodes.models import costs
        key = costs.gpu_key(name)
        if key:
            return key
    except Exception:  # the table module is optional here
        pass
    m = re.search(r"\b(GH200|GB200|B200|B100|H200|H100|H800|A100|A800|A10G|A10|L40S|L40|L4|V100|T4)\b", name, re.I)
    if m:
        return m.group(1).upper() + ("-PCIe" if "pcie" in name.lower() and "H100" in m.group(1).upper() else "")
    m = re.search(r"RTX\s*(\w*\s*)?(\d{4}\w*)", name, re.I)
    if m:
        return f"RTX {m.group(2)}"
    return re.sub(r"^(NVIDIA|GeForce)\s+", "", name).strip() or "gpu"


class Worker:
    """A bench subprocess: its output echoed, its @@ lines collected, killed (its process group)
    when its time is up."""

    def __init__(self, argv: list[str], timeout: float, env: dict[str, str]):
        self.figures: list[dict] = []
        self.skips: list[dict] = []
        self.took: dict[str, float] = {}
        self.storyboard: dict | None = None
        self.timed_out = False
        self.argv, self.timeout, self.env = argv, timeout, env

    def run(self) -> int:
        proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env, start_new_session=True, cwd=str(ROOT))

        def kill() -> None:
            self.timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(max(1.0, self.timeout), kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                text = raw.rstrip("\n")
                if text.startswith(MARK):
                    kind, _, payload = text[len(MARK):].partition(" ")
                    try:
                        obj = json.loads(payload)
                    except ValueError:
                        print(text, flush=True)
                        continue
                    if kind == "figure":
                        self.figures.append(obj)
                    elif kind == "skip":
                        self.skips.append(obj)
                        print(f"skipped {obj.get('preset')}: {obj.get('reason')}", flush=True)
                    elif kind == "took":
                        self.took[obj["preset"]] = obj["seconds"]
                    elif kind == "storyboard":
                        self.storyboard = obj
                elif text.strip():
                    print(f"  | {text}", flush=True)
            return proc.wait()
        finally:
            timer.cancel()


def merge_table(table: Path, figures: list[dict], gpus: dict[str, dict]) -> tuple[int, int]:
    """Merge ``figures`` into the cost table at ``table`` (created when missing): a measured figure
    replaces the measured ones of the same preset, GPU, dtype and offload; published figures stay.
    Returns (added, replaced)."""
    if table.is_file():
        data = json.loads(table.read_text(encoding="utf-8"))
    else:
        data = {"about": "Per-preset cost figures (see docs/estimates.md).", "gpus": {}, "figures": []}
    data.setdefault("gpus", {})
    data.setdefault("figures", [])
    for key, info in gpus.items():
        if key not in data["gpus"]:
            data["gpus"][key] = info
        else:
            names = data["gpus"][key].setdefault("names", [])
            for n in info.get("names", []):
                if n not in names:
                    names.append(n)

    def ident(f: dict) -> tuple:
        return (f.get("preset"), f.get("gpu"), f.get("dtype"), f.get("offload", "none"))

    new = {ident(f) for f in figures}
    kept = [f for f in data["figures"] if not (f.get("source") == "measured" and ident(f) in new)]
    replaced = len(data["figures"]) - len(kept)
    data["figures"] = kept + figures
    tmp = table.with_name(table.name + ".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, table)
    return len(figures), replaced


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random models on the CPU (tests the whole path)")
    ap.add_argument("--out", default=str(ROOT / "out" / "gpu-figures.json"), help="figures JSON to write")
    ap.add_argument("--update-table", action="store_true", help="merge the figures into --table")
    ap.add_argument("--table", default=str(TABLE), help="the cost table (default nodes/models/costs.json)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole bench (default 480)")
    ap.add_argument("--presets", default="", help="comma-separated preset ids (default: all, by value)")
    ap.add_argument("--no-storyboard", action="store_true", help="skip the storyboard workflow")
    ap.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="storyboard override (repeatable)")
    ap.add_argument("--workdir", default=None, help="where model folders go (default: a temp folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the model folders")
    # internal: a worker process
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--storyboard-here", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", default="0", help=argparse.SUPPRESS)
    ap.add_argument("--gpu", default="cpu", help=argparse.SUPPRESS)
    ap.add_argument("--gpu-name", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None or args.storyboard_here:
        return worker_main(args)

    started = time.time()
    plan = list(PLAN)
    if args.presets:
        wanted = [x.strip() for x in args.presets.split(",") if x.strip()]
        known = {i.preset for i in PLAN}
        bad = [w for w in wanted if w not in known]
        if bad:
            raise SystemExit(f"unknown preset(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        plan = [i for i in PLAN if i.preset in wanted]
    storyboard = not args.no_storyboard
    if args.update_table and args.tiny and Path(args.table).resolve() == TABLE.resolve():
        raise SystemExit("--tiny figures are plumbing, not costs: they never go into the shipped table "
                         "(give --table PATH to try the merge)")

    if args.tiny:
        gpu, gpu_name, mem = "cpu", "CPU (tiny models)", 0.0
    else:
        import torch
        forced_cpu = os.environ.get("REELGRAPH_DEVICE", "").strip().lower() == "cpu"
        if forced_cpu or not torch.cuda.is_available():
            why = "no CUDA here" + (" (REELGRAPH_DEVICE=cpu)" if forced_cpu else "")
            line("gpu_bench", "skipped", "", f"{why}; on a GPU it would measure {len(plan)} presets "
                 f"({', '.join(i.preset for i in plan)}) at their native sizes (s per step/token/audio second, "
                 "fixed s per call, load s, peak VRAM, on this card and on a simulated 24 GB card where the "
                 f"offload differs){' and the storyboard workflow on the datacenter defaults' if storyboard else ''}"
                 "; --tiny runs the same path on the CPU with tiny models")
            return 0
        gpu, gpu_name, mem = gpu_identity()
    line("gpu_bench", gpu, "", f"{gpu_name}, {mem:.0f} GB; budget {args.budget:.0f} s; "
         f"{len(plan)} presets{' + storyboard' if storyboard else ''}")

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="reelgraph-gpu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", REELGRAPH_MODELS=str(work), PYTHONUNBUFFERED="1")
    base = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(work), "--gpu", gpu,
            "--gpu-name", gpu_name] + (["--tiny"] if args.tiny else [])
    for pair in args.set or []:
        base += ["--set", pair]
    figures: list[dict] = []
    skipped: list[dict] = []
    took: dict[str, float] = {}
    story: dict | None = None
    keep_for_story = ({p.id for t in STORYBOARD_NODES.values() if (p := _default_for(t)) is not None}
                      - _storyboard_direct()) if storyboard else set()
    try:
        if args.tiny:  # one process for everything: the same code, without 16 imports of diffusers
            deadline = started + args.budget
            w = Worker(base + ["--worker", ",".join(i.preset for i in plan), "--deadline", str(deadline)]
                       + (["--storyboard-here"] if storyboard else []), deadline - time.time(), env)
            w.run()
            figures, skipped, took, story = w.figures, w.skips, w.took, w.storyboard
            if w.timed_out:
                skipped.append({"preset": "*", "reason": f"the tiny bench ran past its budget ({args.budget:.0f} s)"})
        else:
            reserve = STORYBOARD_EST_S if storyboard else 0.0
            ratios: list[float] = []  # measured / estimated, of the presets done: scales the rest
            for item in plan:
                left = started + args.budget - reserve - time.time()
                scale = min(3.0, max(0.3, statistics.median(ratios))) if ratios else 1.0
                est = item.est_s * scale
                if est > left:
                    skipped.append({"preset": item.preset, "reason": f"would not fit: about {est:.0f} s, "
                                                                     f"{max(0.0, left):.0f} s left"})
                    line(f"{item.preset}", "skipped", "", f"about {est:.0f} s (estimate x{scale:.2f}), "
                         f"{max(0.0, left):.0f} s left of the budget")
                    continue
                t_item = time.time()
                deadline = time.time() + left
                w = Worker(base + ["--worker", item.preset, "--deadline", str(deadline)], left, env)
                rc = w.run()
                figures += w.figures
                skipped += w.skips
                took.update(w.took)
                spent = w.took.get(item.preset)
                if w.figures and not w.timed_out:
                    ratios.append((time.time() - t_item) / item.est_s)
                if w.timed_out:
                    skipped.append({"preset": item.preset, "reason": f"killed at its time limit ({left:.0f} s)"})
                elif rc != 0 and not w.figures:
                    skipped.append({"preset": item.preset, "reason": f"worker exited {rc}"})
                line(f"{item.preset}.took", f"{spent if spent is not None else 0:.0f}", "s",
                     f"estimate {item.est_s:.0f} s (whole subprocess{'; killed' if w.timed_out else ''})")
                if item.preset not in keep_for_story and not args.keep:
                    shutil.rmtree(work / item.preset, ignore_errors=True)
            if storyboard:
                left = started + args.budget - time.time()
                if left < 60:
                    skipped.append({"preset": "storyboard", "reason": f"{left:.0f} s left of the budget"})
                    line("storyboard", "skipped", "", f"{left:.0f} s left of the budget")
                else:
                    w = Worker(base + ["--storyboard-here", "--deadline", str(time.time() + left)], left, env)
                    w.run()
                    story = w.storyboard
                    if w.timed_out:
                        story = {"status": "killed", "seconds": round(left, 1), **(story or {})}
                        line("storyboard", "killed", "", f"ran past the {left:.0f} s left of the budget")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.time() - started
    gpus = {} if args.tiny else {gpu: {"names": [gpu_name], "memory_gb": round(mem), "bf16_tflops": None,
                                       "source": "nvidia-smi on the bench machine (bf16_tflops: add the "
                                                 "datasheet's dense figure)"}}
    out = {"about": f"bench/gpu.py figures ({'tiny CPU models: plumbing, not costs' if args.tiny else gpu_name}); "
                    "schema: docs/estimates.md",
           "gpus": gpus, "figures": figures,
           "bench": {"elapsed_s": round(elapsed, 1), "budget_s": args.budget, "skipped": skipped,
                     "took_s": took, "storyboard": story}}
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    line("gpu_bench_total", f"{elapsed:.0f}", "s", f"budget {args.budget:.0f} s; {len(figures)} figures, "
         f"{len(skipped)} skipped; written to {out_path}")
    if args.update_table:
        table = Path(args.table)
        added, replaced = merge_table(table, figures, gpus)
        line("gpu_bench_table", f"{added}", "figures merged", f"{replaced} replaced, into {table}")
    return 0


def _default_for(task: str):
    from reelgraph.nodes.models import presets
    return presets.default_preset(task, "datacenter")


if __name__ == "__main__":
    sys.exit(main())
