"""Full-size random-weight builds of every preset (nodes/models/fullsize.py) and the GPU bench's
CPU path (bench/gpu.py --tiny).

The full-size architectures are built on the meta device (no weight memory): their parameter
counts must match the published ones within 3 %, and each build is the pipeline class its preset
names. The bench's --tiny mode runs its whole path (build, save, load through our loader, timed
calls, the storyboard, JSON in the cost table's schema, the merge into a table) on tiny models.
No network, no timing asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "gpu.py"


def _bench():
    spec = importlib.util.spec_from_file_location("reelgraph_bench_gpu", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _preset_ids() -> list[str]:
    from reelgraph.nodes.models.presets import presets
    return list(presets())


@lru_cache(maxsize=None)
def _meta(pid: str):
    from reelgraph.nodes.models import fullsize
    return fullsize.build(pid, device="meta")


@pytest.mark.parametrize("pid", _preset_ids())
def test_full_size_parameter_counts_match_the_published_ones(pid):
    from reelgraph.nodes.models import fullsize
    assert pid in fullsize.PUBLISHED, f"{pid}: no published parameter count in fullsize.PUBLISHED"
    counts = fullsize.counts_of(_meta(pid))
    for component, (published, source) in fullsize.PUBLISHED[pid].items():
        assert source, f"{pid}.{component}: a published count names its source"
        got = fullsize.param_count(pid, component, counts=counts)
        assert abs(got / published - 1) <= 0.03, (
            f"{pid} {component}: {got / 1e6:.1f} M parameters, published {published / 1e6:.1f} M ({source})")


@pytest.mark.parametrize("pid", _preset_ids())
def test_the_build_is_the_presets_pipeline_class(pid):
    from reelgraph.nodes.models.presets import presets
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    preset = presets()[pid]
    built = _meta(pid)
    if preset.library == "transformers":
        assert set(built) == {"model", "tokenizer"}
        name = type(built["model"]).__name__
        if preset.pipeline == "AutoModelForCausalLM":
            assert name in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values(), name
        else:
            assert name == preset.pipeline
    else:
        assert type(built).__name__ == preset.pipeline
    # meta: nothing was allocated
    import torch
    modules = [built["model"]] if isinstance(built, dict) else \
        [m for m in built.components.values() if isinstance(m, torch.nn.Module)]
    assert all(p.device.type == "meta" for m in modules for p in m.parameters())


def test_tiny_builds_keep_the_presets_structure():
    """The tiny builds the bench tests with are the same builders: same pipeline class, a few layers."""
    from reelgraph.nodes.models import fullsize
    for pid in ("flux-schnell", "wan2.1-flf2v-720p"):
        tiny = fullsize.build(pid, device="meta", tiny=True)
        assert type(tiny).__name__ == type(_meta(pid)).__name__
        assert sum(fullsize.counts_of(tiny).values()) < 5e6
    # FLF2V's transformer position-embeds both images' CLIP tokens; i2v's does not
    assert _meta("wan2.1-flf2v-720p").transformer.config.pos_embed_seq_len == 2 * 257
    assert _meta("wan2.1-i2v-480p").transformer.config.pos_embed_seq_len is None
    assert _meta("flux-dev").transformer.config.guidance_embeds and \
        not _meta("flux-schnell").transformer.config.guidance_embeds


def test_merge_replaces_measured_figures_of_the_same_key_and_keeps_the_rest(tmp_path):
    gpu = _bench()
    table = tmp_path / "costs.json"

    def fig(preset, source="measured", offload="none", s=1.0):
        f = {k: None for k in gpu.FIGURE_KEYS}
        f.update(preset=preset, gpu="H100", dtype="bfloat16", offload=offload, source=source, s_per_unit=s)
        return f

    assert gpu.merge_table(table, [fig("sd-turbo")], {"H100": {"names": ["NVIDIA H100 80GB HBM3"]}}) == (1, 0)
    data = json.loads(table.read_text())
    assert data["gpus"]["H100"]["names"] == ["NVIDIA H100 80GB HBM3"] and len(data["figures"]) == 1
    data["figures"].append(fig("sd-turbo", source="published", s=9.0))
    table.write_text(json.dumps(data))
    added, replaced = gpu.merge_table(table, [fig("sd-turbo", s=2.0), fig("sd-turbo", offload="model")],
                                      {"H100": {"names": ["NVIDIA H100"]}})
    assert (added, replaced) == (2, 1)
    data = json.loads(table.read_text())
    got = sorted((f["source"], f["offload"], f["s_per_unit"]) for f in data["figures"])
    assert got == [("measured", "model", 1.0), ("measured", "none", 2.0), ("published", "none", 9.0)]
    assert data["gpus"]["H100"]["names"] == ["NVIDIA H100 80GB HBM3", "NVIDIA H100"]


def test_simulated_24gb_card_sets_the_consumer_policy_and_restores_it(monkeypatch):
    gpu = _bench()
    from reelgraph.nodes.models import device
    monkeypatch.delenv("REELGRAPH_OFFLOAD", raising=False)
    monkeypatch.delenv("REELGRAPH_MODEL_MEMORY_GB", raising=False)
    before = device.policy()
    with gpu._simulated_card(24.0, "model"):
        pol = device.policy()
        assert (pol.tier, pol.memory_gb, pol.offload_for(34.0)) == ("consumer", 24.0, "model")
        assert os.environ["REELGRAPH_OFFLOAD"] == "model" and os.environ["REELGRAPH_MODEL_MEMORY_GB"] == "24"
        assert pol.budget_bytes == 24 * 2**30
    assert device.policy() == before
    assert "REELGRAPH_OFFLOAD" not in os.environ and "REELGRAPH_MODEL_MEMORY_GB" not in os.environ
    assert gpu.short_gpu("NVIDIA H200") == "H200" and gpu.short_gpu("NVIDIA H100 80GB HBM3") == "H100"


def test_without_cuda_the_bench_says_so_and_exits_0():
    env = dict(os.environ, REELGRAPH_DEVICE="cpu")
    proc = subprocess.run([sys.executable, str(BENCH), "--no-storyboard"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpu_bench: skipped") and "no CUDA" in lines[0], proc.stdout


@pytest.mark.slow
def test_tiny_bench_runs_end_to_end_and_writes_the_table_schema(tmp_path):
    """bench/gpu.py --tiny: every preset built, saved, loaded by our loaders (or built through the
    manager, for the direct ones), timed; the storyboard on the datacenter defaults; the JSON in the
    cost table's schema; --update-table merged into a table given by path."""
    gpu = _bench()
    out, table = tmp_path / "figures.json", tmp_path / "costs.json"
    env = dict(os.environ, REELGRAPH_DEVICE="cpu", OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, str(BENCH), "--tiny", "--out", str(out), "--update-table",
                           "--table", str(table), "--budget", "240"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data) >= {"about", "gpus", "figures"}
    assert not data["bench"]["skipped"], data["bench"]["skipped"]
    figures = {f["preset"]: f for f in data["figures"]}
    assert set(figures) == set(_preset_ids()), proc.stdout[-3000:]
    types = {"preset": str, "gpu": str, "dtype": str, "offload": str, "width": int, "height": int, "frames": int,
             "audio_seconds": (int, float), "unit": str, "units": (int, float), "s_per_unit": (int, float),
             "fixed_s": (int, float, type(None)), "load_s": (int, float, type(None)),
             "vram_gb": (int, float, type(None)), "ram_gb": (int, float, type(None)), "source": str, "ref": str,
             "date": str}
    assert set(types) == set(gpu.FIGURE_KEYS)
    direct = {i.preset for i in gpu.PLAN if i.direct}
    for pid, f in figures.items():
        assert list(f) == list(gpu.FIGURE_KEYS), pid
        for key, kind in types.items():
            assert isinstance(f[key], kind), (pid, key, f[key])
        assert f["source"] == "measured" and f["ref"].startswith("bench/gpu.py on ") and f["gpu"] == "cpu"
        assert f["dtype"] in ("float16", "bfloat16", "float32") and f["offload"] in ("none", "model", "sequential")
        assert f["unit"] in ("step", "token", "audio_second") and f["s_per_unit"] > 0
        assert (f["load_s"] is None) == (pid in direct), (pid, f["load_s"])
    assert figures["sd-turbo"]["unit"] == "step" and figures["sd-turbo"]["width"] > 0
    assert figures["ltx-video"]["frames"] > 1 and figures["stable-audio-open"]["audio_seconds"] > 0
    assert figures["qwen2.5-1.5b-instruct"]["unit"] == "token"
    assert figures["mms-tts-eng"]["unit"] == "audio_second"
    story = data["bench"]["storyboard"]
    assert story and story["status"] == "ok", story
    assert set(story["models"]) == set(gpu.STORYBOARD_NODES) and story["loads"] >= len(gpu.STORYBOARD_NODES)
    assert "storyboard_total:" in proc.stdout
    for text in proc.stdout.splitlines():  # every printed figure reads "name: value unit (note)"
        if text.startswith("  | ") and ".dc:" in text:
            assert text.rstrip().endswith(")") and ": " in text
    merged = json.loads(table.read_text())
    assert len(merged["figures"]) == len(figures) and merged["gpus"] == {}
