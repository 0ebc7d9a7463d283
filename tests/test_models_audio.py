"""audio.music and audio.speech through real (tiny, random) models on the CPU.

Tiny Stable Audio, AudioLDM2 and VITS models are built once per module (tests/tiny/audio.py), saved
with save_pretrained and loaded by the real loaders through the engine. Outputs are decoded with
PyAV (tests/mediaprobe.py), not with the helpers the nodes use. Random weights make noise, not
music or words: these tests check the contract (format, exact length, level, seeds, progress,
cancellation, model lookup, errors), not the sound.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from conftest import make_workflow
from mediaprobe import audio_samples, probe
from reelgraph import graph
from reelgraph.graph import CancelToken
from reelgraph.nodes.audio import _music_model, _speech_model
from reelgraph.nodes.audio._dsp import resample
from tiny import audio as tiny_audio
from tiny import to_hub_cache

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # torchsde's Brownian tree warns when float32 sigmas land a hair outside its interval (as in any
    # Stable Audio run); it clamps them, the result is unaffected
    pytest.mark.filterwarnings("ignore:Should have t[ab]:UserWarning"),
]

RATE = 48000
MINUS_3_DB = 10 ** (-3 / 20)
LSB = 1 / 32767  # 16-bit rounding of the stored WAV
STEP = re.compile(r"step (\d+)/(\d+)$")


@pytest.fixture(scope="module")
def stable_audio(tmp_path_factory):
    return tiny_audio.stable_audio(tmp_path_factory.mktemp("tiny-stable-audio"))


@pytest.fixture(scope="module")
def audioldm2(tmp_path_factory):
    return tiny_audio.audioldm2(tmp_path_factory.mktemp("tiny-audioldm2"))


@pytest.fixture(scope="module")
def vits(tmp_path_factory):
    return tiny_audio.vits(tmp_path_factory.mktemp("tiny-vits"))


def music_params(model, **kw) -> dict:
    params = {"mood": "calm ambient pads", "seconds": 0.5, "tempo": 0, "seed": 1, "steps": 2,
              "backend": "diffusers", "model": str(model)}
    params.update(kw)
    return params


def speech_params(model, text: str, **kw) -> dict:
    params = {"voice": "en-us", "speed": 160, "pitch": 50, "seed": 0, "backend": "diffusers",
              "model": str(model)}
    params.update(kw)
    return {"text": text, **params}


def run_one(node_type: str, params: dict, *, cache=False, events: list | None = None, on_event=None,
            cancel=None):
    """Run the node (speech: fed by a text.constant) as workflow node ``n``; returns (result, its
    audio ref or None). ``events`` collects every event; ``on_event`` sees them instead."""
    if node_type == "audio.speech":
        params = dict(params)
        text = params.pop("text")
        wf = make_workflow({"t": ("text.constant", {"text": text}), "n": (node_type, params)},
                           [("t.out", "n.text")])
    else:
        wf = make_workflow({"n": (node_type, params)})
    if events is not None:
        on_event = events.append
    result = graph.run(wf, cache=cache, on_event=on_event, cancel=cancel)
    ref = result.values.get("n", {}).get("audio") if result.ok else None
    return result, ref


def decoded(ref) -> np.ndarray:
    return audio_samples(ref.path).astype(np.float64)


def steps_reported(events, node: str = "n") -> list[str]:
    """The progress messages of denoising steps taken (not the "step 0/N" that announces a call)."""
    return [e.message for e in events if e.event == "node_progress" and e.node == node
            and e.message and STEP.search(e.message) and int(STEP.search(e.message).group(1)) > 0]


# ---------------------------------------------------------------------------------------------
# audio.music

def test_stable_audio_bed_is_48k_stereo_exact_levelled_and_faded(stable_audio, every_progress_event):
    events: list = []
    result, ref = run_one("audio.music", music_params(stable_audio, seconds=0.5, steps=3), events=events)
    assert result.ok, result.failures
    a = probe(ref.path)["audio"][0]
    assert (a["sample_rate"], a["channels"], a["samples"]) == (RATE, 2, round(0.5 * RATE))
    assert (ref.meta["segments"], ref.meta["steps"], ref.meta["model"]) == (1, 3, str(stable_audio))
    x = decoded(ref)
    peak = np.abs(x).max()
    assert 0.05 < peak <= MINUS_3_DB + LSB  # levelled like the draft: audible, under -3 dBFS
    assert np.abs(x[:10]).max() < 0.01 * peak and np.abs(x[-10:]).max() < 0.01 * peak  # faded in, out
    assert not np.array_equal(x[:, 0], x[:, 1])  # the model's two channels, not a copy
    assert steps_reported(events) == [f"step {i}/3" for i in (1, 2, 3)]  # one event per step


def test_music_longer_than_one_call_chains_segments_and_is_exact(stable_audio, every_progress_event):
    seconds = 2.5  # the tiny model makes at most 1.024 s per call
    assert seconds > tiny_audio.STABLE_AUDIO_MAX_SECONDS
    events: list = []
    result, ref = run_one("audio.music", music_params(stable_audio, seconds=seconds, steps=2), events=events)
    assert result.ok, result.failures
    a = probe(ref.path)["audio"][0]
    assert (a["sample_rate"], a["channels"], a["samples"]) == (RATE, 2, round(seconds * RATE))
    assert ref.meta["segments"] == 3
    assert steps_reported(events) == [f"segment {s}/3, step {i}/2" for s in (1, 2, 3) for i in (1, 2)]
    progress = [e.progress for e in events if e.event == "node_progress" and e.node == "n"]
    assert progress == sorted(progress)  # spread over the segments, never going back
    # the joins are crossfades: no 20 ms stretch of the bed (away from its fades) falls silent
    x = decoded(ref)
    hop = RATE // 50
    rms = np.sqrt((x[: len(x) // hop * hop].mean(axis=1).reshape(-1, hop) ** 2).mean(axis=1))
    body = rms[int(0.4 * 50):int((seconds - 0.8) * 50)]
    assert body.min() > 0.05 * np.median(body)


def test_music_same_seed_same_bed_other_seed_other_bed(stable_audio):
    first = decoded(run_one("audio.music", music_params(stable_audio, seed=7))[1])
    again = decoded(run_one("audio.music", music_params(stable_audio, seed=7))[1])
    other = decoded(run_one("audio.music", music_params(stable_audio, seed=8))[1])
    assert np.array_equal(first, again)
    assert np.abs(first - other).max() > 0.01


def test_music_tempo_goes_into_the_prompt():
    assert _music_model.prompt_for("  dark   synth ", 0) == "dark synth"
    assert _music_model.prompt_for("dark synth", 96) == "dark synth, 96 BPM"


def test_music_cancelled_at_the_first_step_stores_nothing(stable_audio, tmp_path, stop_after):
    token = CancelToken()
    stop_after(token, "n", STEP.pattern)  # at "step 0/4": the model is loaded, its first call is starting
    events: list = []
    cache = tmp_path / "cache"
    result, _ = run_one("audio.music", music_params(stable_audio, seconds=2.5, steps=4), cache=cache,
                        on_event=events.append, cancel=token)
    assert result.status == "cancelled" and result.failures == [] and result.skipped == ["n"]
    assert [e.message for e in events if STEP.search(e.message or "")] == ["segment 1/3, step 0/4"]
    assert not any(e.event in ("node_finished", "node_failed") for e in events)
    assert [p for p in (cache / "objects").rglob("*") if p.is_file()] == []
    assert list((cache / "tmp").iterdir()) == []


def test_audioldm2_mono_model_gives_the_same_contract(audioldm2, every_progress_event):
    events: list = []
    result, ref = run_one("audio.music", music_params(audioldm2, seconds=1.0, steps=2, tempo=100),
                          events=events)
    assert result.ok, result.failures
    a = probe(ref.path)["audio"][0]
    assert (a["sample_rate"], a["channels"], a["samples"]) == (RATE, 2, RATE)
    x = decoded(ref)
    assert np.array_equal(x[:, 0], x[:, 1])  # mono, on both channels
    assert 0.05 < np.abs(x).max() <= MINUS_3_DB + LSB
    assert steps_reported(events) == ["step 1/2", "step 2/2"]
    assert ref.meta["tempo"] == 100


def test_music_from_a_hub_repo_id_in_the_cache(stable_audio, tmp_path):
    to_hub_cache(stable_audio, tmp_path / "hf-home" / "hub", "some-org/tiny-stable-audio")
    result, ref = run_one("audio.music", music_params("some-org/tiny-stable-audio"))
    assert result.ok, result.failures
    assert ref.meta["model"] == "some-org/tiny-stable-audio" and ref.samples == round(0.5 * RATE)


def test_music_with_a_speech_model_fails_naming_model(vits):
    result, _ = run_one("audio.music", music_params(vits))
    [failure] = result.failures
    assert failure.field == "model" and "VitsModel" in failure.message
    assert "StableAudioPipeline" in failure.fix


def test_music_draft_ignores_steps(tmp_path):
    draft = {"mood": "calm", "seconds": 1.0, "tempo": 0, "seed": 3, "backend": "draft", "model": ""}
    a = run_one("audio.music", {**draft, "steps": 0})[1]
    b = run_one("audio.music", {**draft, "steps": 50})[1]
    assert a.digest == b.digest and "model" not in a.meta


def test_segments_cover_the_length_with_equal_overlapping_calls():
    assert _music_model.plan_segments(1000, 2000, 100) == [(0, 1000)]
    for total, longest, overlap in ((120000, 49151, 12287), (100, 30, 5), (2256000 * 3, 2256000, 48000)):
        parts = _music_model.plan_segments(total, longest, overlap)
        assert parts[0][0] == 0 and parts[-1][0] + parts[-1][1] == total
        assert all(length <= longest for _, length in parts)
        assert all(b[0] == a[0] + a[1] - overlap for a, b in itertools.pairwise(parts))
        assert max(n for _, n in parts) - min(n for _, n in parts) <= len(parts)


@pytest.mark.parametrize("src", [16000, 22050, 44100, 96000])
def test_resampling_keeps_a_tone_clean(src):
    t = np.arange(src) / src
    x = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)[:, None]
    y = resample(x, src, RATE)
    assert y.shape == (RATE, 1)
    want = np.sin(2 * np.pi * 1000.0 * np.arange(RATE) / RATE)
    assert np.abs(y[2000:-2000, 0] - want[2000:-2000]).max() < 10 ** (-90 / 20)


# ---------------------------------------------------------------------------------------------
# audio.speech

TEXT = "Hello there. The fox runs home, quietly, at dusk!"


def test_speech_model_reads_text_at_48k_stereo_peaking_at_minus_3_db(vits, every_progress_event):
    events: list = []
    result, ref = run_one("audio.speech", speech_params(vits, TEXT), events=events)
    assert result.ok, result.failures
    a = probe(ref.path)["audio"][0]
    assert (a["sample_rate"], a["channels"]) == (RATE, 2) and a["samples"] > 0.1 * RATE
    x = decoded(ref)
    assert abs(np.abs(x).max() - MINUS_3_DB) <= 2 * LSB
    assert (ref.meta["engine"], ref.meta["model"]) == ("vits", str(vits))
    said = [e.message for e in events if e.event == "node_progress" and e.node == "n"
            and (e.message or "").startswith("sentence")]
    assert said == ["sentence 1/2", "sentence 2/2"]  # read one sentence at a time


def test_speech_empty_text_is_a_tenth_of_a_second_of_silence(vits):
    for text in ("", "  \n "):
        result, ref = run_one("audio.speech", speech_params(vits, text))
        assert result.ok, result.failures
        assert (ref.samples, ref.meta["engine"]) == (round(0.1 * RATE), "silence")
        assert np.abs(decoded(ref)).max() == 0


def test_speech_speed_changes_the_duration(vits):
    slow = run_one("audio.speech", speech_params(vits, TEXT, speed=80))[1]
    fast = run_one("audio.speech", speech_params(vits, TEXT, speed=320))[1]
    assert slow.samples > 2 * fast.samples


def test_speech_seed(vits):
    first = decoded(run_one("audio.speech", speech_params(vits, TEXT, seed=4))[1])
    again = decoded(run_one("audio.speech", speech_params(vits, TEXT, seed=4))[1])
    other = decoded(run_one("audio.speech", speech_params(vits, TEXT, seed=5))[1])
    assert np.array_equal(first, again)
    assert first.shape != other.shape or np.abs(first - other).max() > 0.01


def test_speech_preset_and_default_resolve_from_the_hub_cache(vits, tmp_path):
    to_hub_cache(vits, tmp_path / "hf-home" / "hub", "facebook/mms-tts-eng")
    for model in ("mms-tts-eng", ""):  # empty: the speech default for a CPU, the same preset
        result, ref = run_one("audio.speech", speech_params(model, TEXT))
        assert result.ok, result.failures
        assert ref.meta["model"] == "mms-tts-eng" and ref.samples > 0


def test_speech_with_a_music_model_fails_naming_model(stable_audio):
    result, _ = run_one("audio.speech", speech_params(stable_audio, TEXT))
    [failure] = result.failures
    assert failure.field == "model" and "StableAudioPipeline" in failure.message
    assert "VitsModel" in failure.fix


def test_speech_cancelled_between_sentences_stores_nothing(vits, tmp_path, stop_after):
    token = CancelToken()
    stop_after(token, "n", r"^sentence 1/")
    events: list = []
    cache = tmp_path / "cache"
    result, _ = run_one("audio.speech", speech_params(vits, TEXT), cache=cache, on_event=events.append,
                        cancel=token)
    assert result.status == "cancelled" and result.failures == [] and result.skipped == ["n"]
    assert [e.message for e in events if (e.message or "").startswith("sentence")] == ["sentence 1/2"]
    assert list((cache / "objects").rglob("*.wav")) == []


def test_speech_splits_long_text_into_sentences():
    long = "word " * 300
    parts = _speech_model.sentences(f"One. Two!\nThree?  {long}")
    assert parts[:3] == ["One.", "Two!", "Three?"]
    assert all(len(p) <= _speech_model.MAX_CHARS for p in parts)
    assert " ".join(parts[3:]).split() == long.split()
