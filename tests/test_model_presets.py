"""Presets, finding weights, the backend choice, the device policy and `reelgraph models`.

Nothing here loads a real model (test_models_*.py do, with tiny random ones): these are the rules
that decide what would load, from where, on which device, and what the user is told when it can't.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_workflow
from fakehub import FakeHub
from reelgraph import graph
from reelgraph.nodes.common import backends
from reelgraph.nodes.models import device, presets
from reelgraph.ui.cli import cli
from tiny import to_hub_cache

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_choices():
    backends._choose.cache_clear()
    yield
    backends._choose.cache_clear()


def fake_diffusers_folder(path: Path, cls: str = "StableDiffusionPipeline", mb: float = 0.01) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    (path / "unet").mkdir(exist_ok=True)
    (path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * int(mb * 1e6))
    return path


def hub(tmp_path: Path) -> Path:
    return tmp_path / "hf-home" / "hub"  # conftest points HF_HOME at tmp_path/hf-home


# -- the data file

def test_every_task_has_presets_and_every_preset_is_complete():
    known = presets.presets()
    assert {p.task for p in known.values()} == set(presets.TASKS)
    for p in known.values():
        assert p.repo.count("/") == 1 and p.revision and p.license and p.vram_gb > 0 and p.download_gb > 0
    for task in presets.TASKS:
        # a 24 GB and an 80 GB card get a default for every task
        assert presets.default_preset(task, "consumer") is not None
        assert presets.default_preset(task, "datacenter") is not None


def test_cpu_defaults_are_cpu_tier_presets():
    for task in presets.TASKS:
        p = presets.default_preset(task, "cpu")
        assert p is None or p.tier == "cpu", task


# -- finding weights

def test_a_missing_preset_says_how_to_get_it(tmp_path):
    with pytest.raises(graph.NodeError) as err:
        presets.locate("sd-turbo", "text_to_image", tier="cpu")
    assert err.value.field == "model"
    assert "reelgraph models pull sd-turbo" in err.value.fix
    assert "stabilityai/sd-turbo" in err.value.message


def test_a_preset_resolves_from_the_hugging_face_cache_layout(tmp_path):
    snapshot = to_hub_cache(fake_diffusers_folder(tmp_path / "src"), hub(tmp_path), "stabilityai/sd-turbo")
    found = presets.locate("sd-turbo", "text_to_image", tier="cpu")
    assert Path(found.path) == snapshot
    assert found.preset.id == "sd-turbo" and found.pipeline == "StableDiffusionPipeline"
    assert found.identity == f"sd-turbo@{snapshot.name}"


def test_an_empty_model_means_the_default_preset_for_the_device(tmp_path):
    to_hub_cache(fake_diffusers_folder(tmp_path / "src"), hub(tmp_path), "stabilityai/sd-turbo")
    assert presets.locate("", "text_to_image", tier="cpu").preset.id == "sd-turbo"
    with pytest.raises(graph.NodeError) as err:
        presets.locate("", "image_to_video", tier="cpu")
    assert "no image-to-video model runs on a cpu device" in err.value.message


def test_reelgraph_models_folder_holds_presets_by_id(tmp_path, monkeypatch):
    folder = fake_diffusers_folder(tmp_path / "models" / "sd-turbo")
    monkeypatch.setenv("REELGRAPH_MODELS", str(tmp_path / "models"))
    assert Path(presets.locate("sd-turbo", "text_to_image", tier="cpu").path) == folder


def test_a_local_folder_relative_to_the_workflow(tmp_path):
    fake_diffusers_folder(tmp_path / "wf" / "models" / "mine")
    found = presets.locate("./models/mine", "text_to_image", tier="cpu", workspace=tmp_path / "wf")
    assert found.library == "diffusers" and found.preset is None
    assert found.path == str((tmp_path / "wf" / "models" / "mine").resolve())


def test_a_local_folder_identity_changes_when_its_weights_change(tmp_path):
    folder = fake_diffusers_folder(tmp_path / "m")
    before = presets.locate(str(folder), "text_to_image", tier="cpu").identity
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\1" * 20)
    assert presets.locate(str(folder), "text_to_image", tier="cpu").identity != before


def test_a_hub_repo_id_outside_the_presets(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    to_hub_cache(tmp_path / "src", hub(tmp_path), "someone/tiny-lm")
    found = presets.locate("someone/tiny-lm", "text", tier="cpu")
    assert (found.library, found.pipeline) == ("transformers", "GPT2LMHeadModel")
    with pytest.raises(graph.NodeError, match="not in the Hugging Face cache"):
        presets.locate("someone/other", "text", tier="cpu")


@pytest.mark.parametrize("ref, message", [
    ("/no/such/folder", "is outside the folders models are read from"),  # see test_model_paths.py
    ("flux-schnell", "is a text-to-image model"),
    ("just-a-word", "unknown model"),
])
def test_bad_model_values_are_explained(tmp_path, ref, message):
    with pytest.raises(graph.NodeError) as err:
        presets.locate(ref, "music", tier="cpu")
    assert message in err.value.message and err.value.field == "model" and err.value.fix


def test_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(graph.NodeError, match="neither model_index.json"):
        presets.locate(str(tmp_path / "empty"), "text_to_image", tier="cpu")


# -- which backend runs

def test_draft_needs_no_model_and_keeps_its_cache_keys():
    assert backends.choose("draft", "", "text_to_image", None).needs() == ()
    assert backends.Generative.fingerprint.__func__(type("N", (), {"task": "text_to_image"}),
                                                    {"backend": "draft"}, Path(".")) is None


def test_auto_without_a_gpu_renders_the_draft_and_says_why():
    choice = backends.choose("auto", "", "text_to_image", None)
    assert choice.backend == "draft" and choice.reason == "no GPU on this machine"


def test_auto_with_a_gpu_uses_the_model_when_its_weights_are_here(tmp_path, monkeypatch):
    monkeypatch.setattr(device, "probe", lambda: device.Probe("cuda", 24.0, "test GPU"))
    missing = backends.choose("auto", "", "text_to_image", None)
    assert missing.backend == "draft" and "reelgraph models pull sdxl-turbo" in missing.reason
    backends._choose.cache_clear()
    to_hub_cache(fake_diffusers_folder(tmp_path / "src", "StableDiffusionXLPipeline"), hub(tmp_path),
                 "stabilityai/sdxl-turbo")
    choice = backends.choose("auto", "", "text_to_image", None)
    assert choice.backend == "diffusers" and choice.located.preset.id == "sdxl-turbo"
    (need,) = choice.needs()
    assert need.id == "sdxl-turbo" and need.option("pipeline") == "StableDiffusionXLPipeline"
    assert need.vram_gb == presets.presets()["sdxl-turbo"].vram_gb


def test_large_models_are_refused_on_the_cpu(tmp_path, monkeypatch):
    to_hub_cache(fake_diffusers_folder(tmp_path / "src", "StableDiffusionXLPipeline"), hub(tmp_path),
                 "stabilityai/sdxl-turbo")
    with pytest.raises(graph.NodeError) as err:
        backends.choose("diffusers", "sdxl-turbo", "text_to_image", None)
    assert "too large to run on the CPU" in err.value.message and "cpu-tier preset" in err.value.fix
    big = fake_diffusers_folder(tmp_path / "big", mb=3)
    monkeypatch.setenv("REELGRAPH_CPU_MAX_GB", "0.001")
    with pytest.raises(graph.NodeError, match="too large"):
        backends.choose("diffusers", str(big), "text_to_image", None)


# -- the device policy

def test_offload_follows_the_card_size():
    consumer = device.Policy("cuda", "consumer", 24.0, None, "24 GB card")
    assert consumer.offload_for(9.0) == "none"  # SDXL-Turbo stays resident
    assert consumer.offload_for(34.0) == "model"  # FLUX: one component on the GPU at a time
    assert consumer.offload_for(80.0) == "sequential"  # Wan 14B: layer by layer
    assert device.Policy("cuda", "datacenter", 80.0, None, "80 GB").offload_for(70.0) == "none"
    assert device.Policy("cpu", "cpu", 0.0, None, "cpu").offload_for(3.0) == "none"
    assert device.Policy("cuda", "consumer", 24.0, "sequential", "forced").offload_for(1.0) == "sequential"


def test_the_cpu_runs_fp32_and_gpus_keep_half_precision():
    assert device.Policy("cpu", "cpu", 0, None, "cpu").dtype_for("bfloat16") == "float32"
    assert device.Policy("mps", "consumer", 16, None, "mps").dtype_for("float16") == "float16"


def test_a_model_folder_without_a_preset_runs_in_half_precision_on_a_gpu(monkeypatch):
    monkeypatch.setattr(device, "_bf16_ok", lambda: True)
    assert device.Policy("cuda", "datacenter", 80, None, "H100").dtype_for("auto") == "bfloat16"
    monkeypatch.setattr(device, "_bf16_ok", lambda: False)  # a T4, a V100: fp16
    assert device.Policy("cuda", "consumer", 16, None, "T4").dtype_for("auto") == "float16"
    assert device.Policy("mps", "consumer", 16, None, "mps").dtype_for("auto") == "float16"
    assert device.Policy("cpu", "cpu", 0, None, "cpu").dtype_for("auto") == "float32"


def test_the_device_is_probed_without_torch():
    code = ("import sys; from reelgraph.nodes.models import device; p = device.probe(); "
            "print(p.tier); assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "REELGRAPH_DEVICE": "cpu"}, check=True).stdout
    assert out.strip() == "cpu"


# -- through the engine

def test_a_missing_model_fails_its_node_fast_and_the_other_branch_finishes(tmp_path):
    wf = make_workflow({"text": ("text.constant", {"text": "a lighthouse"}),
                        "key": ("image.keyframe", {"backend": "diffusers", "model": "sd-turbo", "resolution": 64}),
                        "other": ("image.keyframe", {"resolution": 64})},
                       [("text.out", "key.prompt"), ("text.out", "other.prompt")])
    result = graph.run(wf, cache=tmp_path / "c")
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.node == "key" and failure.field == "model"
    assert "reelgraph models pull sd-turbo" in failure.fix
    assert Path(result.value("other.image").path).exists()
    entries = {e.node: e for e in graph.plan(wf, cache=tmp_path / "c")}
    assert entries["key"].status == "run" and "will fail" in entries["key"].reason


def test_auto_falls_back_to_the_draft_with_a_warning_in_the_run_log(tmp_path):
    events = []
    wf = make_workflow({"text": ("text.constant", {"text": "a lighthouse"}),
                        "key": ("image.keyframe", {"backend": "auto", "resolution": 64})},
                       [("text.out", "key.prompt")])
    result = graph.run(wf, cache=tmp_path / "c", on_event=events.append)
    assert result.ok
    warnings = [e.message for e in events if e.event == "node_warning"]
    assert warnings == ["backend auto: no GPU on this machine; rendering the draft"]


def test_planning_and_draft_runs_never_import_the_model_libraries(tmp_path):
    code = f"""
import sys, json
from reelgraph import graph
from reelgraph.ui import catalog
catalog.build_catalog()
wf = json.load(open({str(REPO / 'workflows' / 'storyboard_to_clip.json')!r}))
over = {{"keyframe.backend": "auto", "animate.backend": "diffusers", "voice.backend": "auto"}}
graph.plan(wf, overrides=over, cache={str(tmp_path / 'c')!r})
graph.run({str(REPO / 'workflows' / 'shot_outline.json')!r}, cache={str(tmp_path / 'c')!r})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers'))
print(json.dumps(heavy[:5]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_test_imports_torchvision():
    assert importlib.util.find_spec("torchvision") is None, "torchvision pulls a CUDA torch: keep it out"
    assert "torchvision" not in sys.modules


# -- reelgraph models


def test_models_list_shows_presets_licences_and_what_is_here(tmp_path):
    to_hub_cache(fake_diffusers_folder(tmp_path / "src"), hub(tmp_path), "stabilityai/sd-turbo")
    result = CliRunner().invoke(cli, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {p["id"]: p for p in data["presets"]}
    assert rows["sd-turbo"]["local_path"] and rows["sd-turbo"]["default_here"]
    assert rows["flux-dev"]["commercial"] is False and rows["flux-dev"]["local_path"] is None
    table = CliRunner().invoke(cli, ["models", "list", "--task", "music"])
    assert "stable-audio-open" in table.output and "sd-turbo" not in table.output


def test_models_pull_downloads_into_the_hub_cache_with_huggingface_hub(tmp_path):
    src = tmp_path / "served"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"architectures": ["VitsModel"]}))
    (src / "model.safetensors").write_bytes(os.urandom(4096))
    with FakeHub({"facebook/mms-tts-eng": src}) as fake:
        env = {**os.environ, "HF_ENDPOINT": fake.url, "HF_HOME": str(tmp_path / "home"),
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        env.pop("HF_HUB_OFFLINE")
        cmd = [sys.executable, "-m", "reelgraph.ui.cli", "models", "pull", "mms-tts-eng"]
        first = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert first.returncode == 0, first.stderr
        assert "non-commercial" in first.stderr  # the licence is said before the download
        snapshot = Path(first.stdout.split("ready at ", 1)[1].strip())
        assert (snapshot / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
        assert any(r.startswith("GET /facebook/mms-tts-eng/resolve/") for r in fake.requests)
        again = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert again.returncode == 0 and "already here" in again.stderr
    # and the node finds it offline, by preset id
    os.environ["HF_HOME"] = str(tmp_path / "home")
    assert Path(presets.locate("mms-tts-eng", "speech", tier="cpu").path) == snapshot


def test_models_pull_offline_or_unknown_explains(tmp_path):
    offline = CliRunner().invoke(cli, ["models", "pull", "mms-tts-eng"])
    assert offline.exit_code == 1 and "HF_HUB_OFFLINE is set" in offline.output
    unknown = CliRunner().invoke(cli, ["models", "pull", "no-such-model"])
    assert unknown.exit_code == 2 and "reelgraph models list" in unknown.output
