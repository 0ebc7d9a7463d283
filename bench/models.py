"""Model backend benchmark: the engine's overhead around a pipeline, and model residency.

    .venv/bin/python bench/models.py            # CPU figures (a small SD built from configs)
    .venv/bin/python bench/models.py --full     # plus SD-Turbo's real architecture (random weights)

Every line reads ``name: value unit (goal ...)``. No weights are downloaded: the models are built
from configs with random weights, which cost exactly what trained ones cost per step.

- ``engine_vs_direct``: the keyframe node run through the engine (validation, scheduling, model
  manager, events, resize to the frame size, PNG into the store) over the same pipeline called
  directly and its image saved. Goal: within 2 %.
- ``rerun_after_load``: a second run of a changed keyframe over the first (which loaded the model):
  the model stays resident between runs of one process.
- ``--full``: seconds per denoising step of SD-Turbo's UNet/VAE/text encoder at 512×512, and the
  peak memory (CUDA: per offload mode; CPU: the process RSS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reelgraph import graph  # noqa: E402


def line(name: str, value: str, unit: str, note: str) -> None:
    print(f"{name}: {value} {unit} ({note})", flush=True)


def small_sd(folder: Path, *, channels=(32, 64, 128), text_layers=4, hidden=64) -> Path:
    """An SD-shaped pipeline big enough that a step costs real time on a CPU (tens of ms)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from tiny.image import clip_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=channels, layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * (len(channels) - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (len(channels) - 1),
        cross_attention_dim=hidden, attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32, 64, 64), layers_per_block=1, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        norm_num_groups=8, sample_size=256)
    tokenizer = clip_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(hidden_size=hidden, intermediate_size=hidden * 4, num_attention_heads=4,
                                        num_hidden_layers=text_layers, vocab_size=len(tokenizer),
                                        max_position_embeddings=77, projection_dim=hidden))
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="trailing")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


GUIDANCE = 1.0  # no classifier-free guidance (one UNet pass per step), in both paths


def keyframe_workflow(model: str, prompt: str, steps: int) -> dict:
    return {"schema": "reelgraph/workflow", "version": 1,
            "nodes": {"p": {"type": "text.constant", "params": {"text": prompt}},
                      "k": {"type": "image.keyframe",
                            "params": {"backend": "diffusers", "model": model, "aspect": "1:1",
                                       "resolution": 256, "steps": steps, "guidance": GUIDANCE, "seed": 3}}},
            "edges": [{"from": "p.out", "to": "k.prompt"}]}


def engine_vs_direct(tmp: Path, reps: int) -> None:
    import torch
    from reelgraph.nodes.models import run as mrun
    folder = small_sd(tmp / "small-sd")
    steps = 8
    executor = graph.LocalExecutor(None)
    # load once (both paths then use the same resident pipeline)
    t0 = time.perf_counter()
    first = graph.run(keyframe_workflow(str(folder), "a lighthouse at dusk, 0", steps), cache=False,
                      executor=executor)
    load_run = time.perf_counter() - t0
    assert first.ok, first.failures
    (pipe_model,) = [m for m in executor.models._models.values()]
    pipe = pipe_model.obj
    t0 = time.perf_counter()
    assert graph.run(keyframe_workflow(str(folder), "a lighthouse at dusk, 1", steps), cache=False,
                     executor=executor).ok
    rerun = time.perf_counter() - t0
    line("rerun_after_load", f"{rerun / load_run:.2f}", "× the first run's time",
         f"first {load_run:.2f} s incl. load, second {rerun:.2f} s; the model stays resident")

    def engine_once(i):
        t0 = time.perf_counter()
        r = graph.run(keyframe_workflow(str(folder), f"a harbour in fog, {i}", steps), cache=False,
                      executor=executor)
        assert r.ok, r.failures
        return time.perf_counter() - t0

    def direct_once(i):
        t0 = time.perf_counter()
        with torch.inference_mode():
            img = pipe(prompt=f"a harbour in fog, {i}", num_inference_steps=steps, guidance_scale=GUIDANCE,
                       width=256, height=256, generator=mrun.generator(3)).images[0]
        img.save(tmp / "direct.png")
        return time.perf_counter() - t0

    ours, direct, pairs = [], [], []
    for i in range(reps):  # ABBA order: drift in machine load hits both alike
        first, second = (engine_once, direct_once) if i % 2 == 0 else (direct_once, engine_once)
        a, b = first(i), second(i)
        e, d = (a, b) if first is engine_once else (b, a)
        ours.append(e)
        direct.append(d)
        pairs.append(e / d)
    ratio = statistics.median(pairs)
    line("engine_vs_direct", f"{ratio:.3f}", "× calling the pipeline directly",
         f"goal ≤ 1.02; median of {reps} paired runs; {statistics.median(ours):.3f} s vs "
         f"{statistics.median(direct):.3f} s, {steps} steps at 256×256")
    executor.close()


def storyboard_loads(tmp: Path) -> None:
    """The main job with every generative node on a tiny model: model loads vs model calls."""
    from reelgraph.graph import ModelManager
    from reelgraph.workflows import path
    from tiny.build import build
    sets = {k: int(v) if v.isdigit() else v for k, v in build(tmp / "tiny").items()}
    manager = ModelManager(budget_bytes=8 << 30)
    calls = []
    t0 = time.perf_counter()
    with graph.LocalExecutor(None, models=manager) as executor:
        result = graph.run(path("storyboard_to_clip"), overrides=sets, cache=False, executor=executor,
                           on_event=lambda e: calls.append(e.node) if e.event == "node_progress"
                           and (e.message or "").startswith("step 0/") else None)
    seconds = time.perf_counter() - t0
    assert result.ok, result.failures
    line("storyboard_model_loads", f"{manager.loads}", f"loads for {manager.loads + manager.hits} model calls",
         f"each of the 6 models once; {seconds:.0f} s for the whole storyboard on tiny models")


def sd_turbo_full() -> None:
    """SD-Turbo's architecture (SD 2.1 UNet, OpenCLIP ViT-H text encoder, SD VAE) at full size."""
    import psutil
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if dev == "cuda" else torch.float32
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, use_linear_projection=True).eval()
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=768).eval()
    text = CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                        num_hidden_layers=23, hidden_act="gelu", projection_dim=1024)).eval()
    params = sum(p.numel() for m in (unet, vae, text) for p in m.parameters())
    unet, vae, text = (m.to(dev, dtype) for m in (unet, vae, text))
    ids = torch.zeros(1, 77, dtype=torch.long, device=dev)
    latents = torch.randn(1, 4, 64, 64, device=dev, dtype=dtype)
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        cond = text(ids)[0]
        unet(latents, 999, encoder_hidden_states=cond)  # warm-up
        times = []
        for _ in range(3):
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            unet(latents, 999, encoder_hidden_states=cond)
            if dev == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        vae.decode(latents / 0.18215)
        decode = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda"
            else psutil.Process().memory_info().rss / 2**30)
    line("sd_turbo_step", f"{statistics.median(times):.2f}", f"s per UNet step at 512×512 on {dev}",
         f"{params / 1e9:.2f} B params, {str(dtype).split('.')[-1]}; VAE decode {decode:.2f} s; "
         f"peak {'VRAM' if dev == 'cuda' else 'RSS'} {peak:.1f} GB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="also SD-Turbo's full-size architecture")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    import reelgraph.nodes  # noqa: F401  (registers the model loaders)
    with tempfile.TemporaryDirectory(prefix="reelgraph-bench-models-") as tmp:
        engine_vs_direct(Path(tmp), args.reps)
        storyboard_loads(Path(tmp))
    if args.full:
        sd_turbo_full()


if __name__ == "__main__":
    main()
