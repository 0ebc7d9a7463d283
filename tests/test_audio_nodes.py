"""The audio nodes (audio.music, audio.speech, audio.mix) and io.load_audio.

Outputs are checked with PyAV (tests/mediaprobe.py), not with the helpers the nodes use.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import make_workflow, needs_espeak, node
from mediaprobe import audio_samples, probe, rms
from reelgraph import graph
from reelgraph.graph import Cancelled, CancelToken, NodeError, RunContext
from reelgraph.nodes.audio import _music
from reelgraph.nodes.audio._dsp import limit
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common.audio import write_wav

RATE = 48000
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
HAS_ESPEAK = bool(shutil.which("espeak-ng") or shutil.which("espeak"))




def samples(ref) -> np.ndarray:
    """The samples of an audio ref, decoded independently (PyAV), as float (n, channels)."""
    return audio_samples(ref.path).astype(np.float64)


def dbfs(x) -> float:
    return 20 * np.log10(max(float(np.sqrt(np.mean(np.square(x)))), 1e-12))


def tone_level(x: np.ndarray, freq: float, t0: float, t1: float) -> float:
    """Amplitude of a sine at ``freq`` in the channel mean between t0 and t1 (lock-in detection)."""
    seg = x[int(t0 * RATE):int(t1 * RATE)].mean(axis=1)
    t = np.arange(len(seg)) / RATE
    return float(2 * np.abs(np.mean(seg * np.exp(-2j * np.pi * freq * t))))


def sine(seconds: float, freq: float, amp: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x, x], axis=1).astype(np.float32)


def stored(ctx, x: np.ndarray):
    """An Audio MediaRef holding ``x`` (what an upstream audio node would hand over)."""
    path = ctx.temp_path(".wav")
    meta = write_wav(path, x)
    return ctx.store_file(path, "audio", **meta)


def chroma(x: np.ndarray) -> np.ndarray:
    """Energy per pitch class (0 = C) of the channel mean, from 60 Hz to 2 kHz."""
    mono = x.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    f = np.fft.rfftfreq(len(mono), 1 / RATE)
    keep = (f > 60) & (f < 2000)
    pcs = np.round(69 + 12 * np.log2(f[keep] / 440.0)).astype(int) % 12
    return np.bincount(pcs, weights=spec[keep], minlength=12)


def music(ctx, **kw):
    values = dict(mood="calm, hopeful, cinematic", seconds=2.0, tempo=0, seed=0, backend="draft", model="")
    values.update(kw)
    return node("audio.music").run(ctx, **values)


def speech(ctx, text, **kw):
    values = dict(voice="en-us", speed=160, pitch=50, seed=0, backend="draft", model="")
    values.update(kw)
    return node("audio.speech").run(ctx, text=text, **values)


def mix(ctx, **kw):
    values = dict(music=None, voices=None, starts=None, seconds=0.0, music_db=-12.0, voice_db=0.0,
                  duck_db=-10.0, fade_out=1.5, format="wav")
    values.update(kw)
    return node("audio.mix").run(ctx, **values)


def load(ctx, path, start=0.0, seconds=0.0):
    return node("io.load_audio").run(ctx, path=path, start=start, seconds=seconds)


def test_the_audio_nodes_are_registered_with_the_contract_ports():
    reg = graph.default_registry()
    expect = {
        "audio.music": ([], ["mood", "seconds", "tempo", "seed", "steps", "backend", "model"]),
        "audio.speech": (["text"], ["language", "voice", "speed", "pitch", "seed", "backend", "model"]),
        "audio.mix": (["music", "voices", "starts", "narration_fit"],
                      ["seconds", "music_db", "voice_db", "duck_db", "fade_out", "fit", "max_speedup",
                       "format"]),
        "io.load_audio": ([], ["path", "start", "seconds"]),
    }
    for type_id, (inputs, params) in expect.items():
        spec = reg.get(type_id)
        assert list(spec.inputs) == inputs and list(spec.params) == params, type_id
        assert list(spec.outputs) == ["audio"] and str(spec.outputs["audio"].type) == "Audio"
        assert spec.tooltip
        assert all(p.doc for p in (*spec.inputs.values(), *spec.params.values(), *spec.outputs.values()))
    assert reg.get("audio.music").params["seconds"].wirable
    assert reg.get("audio.mix").params["seconds"].wirable


# ---------------------------------------------------------------------------------------------
# audio.music

def test_music_has_the_exact_length_asked_for(ctx):
    for seconds in (0.5, 1.37):
        ref = music(ctx, seconds=seconds)
        n = round(seconds * RATE)
        assert ref.kind == "audio" and ref.ext == ".wav"
        assert (ref.samples, ref.sample_rate, ref.channels) == (n, RATE, 2)
        info = probe(ref.path)["audio"][0]
        assert (info["samples"], info["sample_rate"], info["channels"]) == (n, RATE, 2)


def test_music_is_deterministic_and_the_seed_varies_it(ctx):
    a, b = music(ctx, seed=3), music(ctx, seed=3)
    assert a.digest == b.digest
    assert music(ctx, seed=4).digest != a.digest


def test_music_is_a_chord_bed_not_a_tone(ctx):
    x = samples(music(ctx, seconds=6.0, seed=1))
    assert dbfs(x) > -24  # RMS near -18 dBFS: clearly audible
    assert np.abs(x).max() <= 10 ** (-1 / 20)  # headroom: peaks under -1 dBFS (-3 by design)
    c = chroma(x)
    share = np.sort(c)[::-1] / c.sum()
    assert (share > 0.05).sum() >= 3  # at least a triad's worth of pitch classes
    assert share[0] < 0.5  # no single note dominates
    # many distinct spectral peaks (chord tones, bass, melody), not one line and its harmonics
    spec = np.abs(np.fft.rfft(x.mean(axis=1)))
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    strong = f[(spec > spec.max() * 0.1) & (f > 40)]
    semis = np.unique(np.round(12 * np.log2(strong / 440.0)))
    assert len(semis) >= 6
    # stereo, but not two unrelated channels
    corr = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert 0.3 < corr < 0.999


def test_music_fades_in_and_out(ctx):
    x = samples(music(ctx, seconds=8.0))
    assert dbfs(x[:2400]) < dbfs(x[3 * RATE:5 * RATE]) - 15  # first 50 ms vs the middle
    assert dbfs(x[-2400:]) < dbfs(x[3 * RATE:5 * RATE]) - 15
    assert np.abs(x[-1]).max() < 0.01


def test_music_mood_picks_mode_and_tempo(ctx):
    sad = music(ctx, mood="sad, dark, tense", seconds=8.0, seed=2)
    happy = music(ctx, mood="upbeat, energetic action", seconds=8.0, seed=2)
    assert sad.key.endswith("minor") and happy.key.endswith("major")
    assert 60 <= sad.tempo <= 80 and 110 <= happy.tempo <= 140
    for ref, mode in ((sad, "minor"), (happy, "major")):
        tonic = NAMES.index(ref.key.split()[0])
        c = chroma(samples(ref))
        minor_third, major_third = c[(tonic + 3) % 12], c[(tonic + 4) % 12]
        assert (minor_third > 3 * major_third) if mode == "minor" else (major_third > 3 * minor_third)
    assert music(ctx, tempo=100).tempo == 100


def test_music_plan_follows_the_mood_words():
    assert _music.plan("calm and slow", 0, 0).tempo in range(60, 81)
    assert _music.plan("action chase", 0, 0).tempo in range(110, 141)
    assert _music.plan("mysterious night", 0, 0).mode == "minor"
    assert _music.plan("warm sunny morning", 0, 0).mode == "major"
    assert _music.plan("x", 0, 0) == _music.plan("x", 0, 0)


def test_music_rejects_a_tempo_too_slow_to_be_a_beat(ctx):
    with pytest.raises(NodeError) as e:
        music(ctx, tempo=10)
    assert e.value.field == "tempo" and "40" in e.value.fix


def test_music_model_backend_without_weights_says_how_to_get_them(ctx):
    with pytest.raises(NodeError) as e:
        music(ctx, backend="diffusers")
    assert e.value.field == "model" and "reelgraph models pull" in e.value.fix


def test_music_stops_when_cancelled(tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        music(RunContext.standalone(tmp_path, cancel=token), seconds=4.0)


def test_listen_proxy_sample_is_written(ctx):
    """A 10 s bed at /tmp/music_check.wav, for a person (or a spectrum check) to judge."""
    ref = music(ctx, seconds=10.0)
    shutil.copyfile(ref.path, "/tmp/music_check.wav")
    assert probe("/tmp/music_check.wav")["audio"][0]["samples"] == 10 * RATE


# ---------------------------------------------------------------------------------------------
# audio.speech

@needs_espeak
def test_speech_is_audible_and_lasts_about_as_long_as_the_text(ctx, rec):
    short = speech(ctx, "The fox runs.")
    long = speech(ctx, "The fox runs across the frozen lake while the old hunter watches "
                       "silently from the dark edge of the forest.")
    assert short.engine == long.engine == "espeak-ng"
    assert rec.warnings == []
    xs, xl = samples(short), samples(long)
    assert dbfs(xl) > -35 and abs(20 * np.log10(np.abs(xl).max()) + 3) < 0.2  # peak set to -3 dBFS
    assert len(xl) / len(xs) > 2.5  # 21 words vs 3
    # the estimate the silent fallback uses is of the same order as real speech
    assert 0.5 < len(xl) / RATE / (21 / 160 * 60) < 2.0
    assert speech(ctx, "The fox runs.").digest == short.digest
    faster = speech(ctx, "The fox runs across the frozen lake.", speed=320)
    slower = speech(ctx, "The fox runs across the frozen lake.", speed=120)
    assert faster.samples < slower.samples
    # begins on the first sound: within 10 ms of the clip start
    assert np.argmax(np.abs(xl).max(axis=1) > 0.01) < 0.01 * RATE
    assert long.text.startswith("The fox runs across")


@needs_espeak
def test_speech_unknown_voice_names_voice(ctx):
    with pytest.raises(NodeError) as e:
        speech(ctx, "hello", voice="xx-nosuchvoice")
    assert e.value.field == "voice" and "--voices" in e.value.fix


def test_speech_refuses_a_voice_that_looks_like_an_option(ctx):
    with pytest.raises(NodeError) as e:
        speech(ctx, "hello", voice="--help")
    assert e.value.field == "voice"


def test_speech_without_espeak_warns_and_gives_timed_silence(ctx, rec, monkeypatch, tmp_path):
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("REELGRAPH_ESPEAK", raising=False)
    text = "one two three four five six seven eight nine ten eleven twelve"  # 12 words
    ref = speech(ctx, text, speed=120)
    assert ref.engine == "silence"
    assert ref.samples == round(12 / 120 * 60 * RATE)  # 6 s
    assert np.abs(samples(ref)).max() == 0
    assert len(rec.warnings) == 1 and "espeak-ng is not installed" in rec.warnings[0]
    assert speech(ctx, "hi", speed=400).samples == round(0.5 * RATE)  # at least half a second


def test_speech_blank_text_is_a_short_silence_without_warning(ctx, rec, monkeypatch):
    monkeypatch.setenv("REELGRAPH_ESPEAK", "")
    for text in ("", "   \n "):
        ref = speech(ctx, text)
        assert (ref.samples, ref.engine) == (round(0.1 * RATE), "silence")
    assert rec.warnings == []


# ---------------------------------------------------------------------------------------------
# audio.mix

def onset(x: np.ndarray, after: float = 0.0, threshold: float = 0.01) -> float:
    """Time of the first sample above ``threshold`` at or after ``after`` seconds."""
    a = np.abs(x[int(after * RATE):]).max(axis=1)
    return after + int(np.argmax(a > threshold)) / RATE


def test_mix_places_each_voice_at_its_start(ctx):
    v1, v2 = stored(ctx, sine(0.3, 1000)), stored(ctx, sine(0.3, 1500))
    ref = mix(ctx, voices=[v1, v2], starts=[0.5, 1.2], seconds=2.0)
    x = samples(ref)
    assert ref.samples == 2 * RATE
    assert abs(onset(x) - 0.5) < 0.01
    assert abs(onset(x, after=0.9) - 1.2) < 0.01
    assert tone_level(x, 1500, 1.25, 1.45) > 0.3 and tone_level(x, 1000, 1.25, 1.45) < 0.01


def test_mix_plays_voices_back_to_back_when_starts_is_unwired(ctx):
    a, b = stored(ctx, sine(0.4, 1000)), stored(ctx, sine(0.6, 1500))
    ref = mix(ctx, voices=[a, b])
    x = samples(ref)
    assert ref.samples == round(1.0 * RATE)
    assert tone_level(x, 1500, 0.41, 0.95) > 0.3 and tone_level(x, 1500, 0.0, 0.39) < 0.01


def test_mix_ducks_the_music_while_a_voice_sounds(ctx):
    bed = stored(ctx, sine(4.0, 220, amp=0.5))
    voice = stored(ctx, sine(1.0, 3000, amp=0.3))
    x = samples(mix(ctx, music=bed, voices=[voice], starts=[1.5], fade_out=0.0))
    free = tone_level(x, 220, 0.2, 1.2)
    under = tone_level(x, 220, 1.6, 2.4)
    assert abs(20 * np.log10(free / 0.5) + 12) < 0.5  # music_db -12
    assert abs(20 * np.log10(under / free) + 10) < 0.5  # duck_db -10 while the voice sounds
    assert tone_level(x, 220, 1.5, 1.55) < free * 0.4  # already down when the voice begins
    assert tone_level(x, 220, 1.2, 1.3) > free * 0.9  # ...but not long before
    assert tone_level(x, 220, 3.4, 3.8) > free * 0.97  # back up after the voice
    assert tone_level(x, 3000, 1.6, 2.4) == pytest.approx(0.3, rel=0.05)
    y = samples(mix(ctx, music=bed, voices=[voice], starts=[1.5], fade_out=0.0, duck_db=0.0))
    assert tone_level(y, 220, 1.6, 2.4) == pytest.approx(free, rel=0.02)


def test_mix_seconds_trims_and_pads(ctx):
    bed = stored(ctx, sine(1.0, 220))
    longer = mix(ctx, music=bed, seconds=2.5, fade_out=0.0)
    assert longer.samples == round(2.5 * RATE)
    x = samples(longer)
    assert np.abs(x[int(1.01 * RATE):]).max() == 0 and dbfs(x[: RATE // 2]) > -30
    assert mix(ctx, music=bed, seconds=0.5).samples == RATE // 2
    assert mix(ctx, music=bed).samples == RATE  # 0: the longest track


def test_mix_fades_the_music_out(ctx):
    x = samples(mix(ctx, music=stored(ctx, sine(3.0, 220)), fade_out=1.0))
    assert tone_level(x, 220, 2.9, 3.0) < 0.2 * tone_level(x, 220, 1.0, 1.5)


def test_mix_never_clips(ctx):
    rng = np.random.default_rng(0)
    loud = np.clip(rng.normal(0, 0.6, (RATE, 2)), -1, 1).astype(np.float32)
    ref = mix(ctx, music=stored(ctx, loud), voices=[stored(ctx, sine(0.5, 440, amp=1.0))],
              music_db=12.0, voice_db=12.0, fade_out=0.0)
    x = samples(ref)
    assert np.abs(x).max() <= 10 ** (-1 / 20) + 1 / 32767
    assert dbfs(x) > -10  # limited, not silenced
    quiet = samples(mix(ctx, voices=[stored(ctx, sine(0.5, 440, amp=0.25))]))
    assert np.abs(quiet).max() == pytest.approx(0.25, abs=1e-3)  # under the ceiling: untouched


def test_limiter_keeps_every_sample_under_the_ceiling():
    rng = np.random.default_rng(1)
    x = (rng.normal(0, 0.5, (RATE, 2)) * np.linspace(0.1, 4, RATE)[:, None]).astype(np.float32)
    y = limit(x, -1.0)
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6
    assert np.abs(y[:2000] - x[:2000]).max() < 1e-6  # the quiet start passes untouched


def test_mix_errors_name_the_field_and_the_fix(ctx):
    v = stored(ctx, sine(0.2, 440))
    for kw, field in (({}, "music"), ({"voices": []}, "music"),
                      ({"voices": [v, v], "starts": [0.0]}, "starts"),
                      ({"voices": [v], "starts": [0.0, 1.0]}, "starts"),
                      ({"voices": [v], "starts": [-0.5]}, "starts")):
        with pytest.raises(NodeError) as e:
            mix(ctx, **kw)
        assert e.value.field == field and e.value.fix, kw


def test_mix_is_deterministic(ctx):
    bed, v = stored(ctx, sine(1.0, 220)), stored(ctx, sine(0.3, 880))
    assert mix(ctx, music=bed, voices=[v], starts=[0.2]).digest == \
        mix(ctx, music=bed, voices=[v], starts=[0.2]).digest


# ---------------------------------------------------------------------------------------------
# io.load_audio

def write_pcm(path: Path, x: np.ndarray, rate: int) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def two_tones(path: Path) -> Path:
    """1 s of 48 kHz stereo: 440 Hz for the first half, 880 Hz for the second."""
    return write_pcm(path, np.concatenate([sine(0.5, 440), sine(0.5, 880)]), RATE)


def test_load_audio_reads_a_wav(ctx, tmp_path):
    two_tones(tmp_path / "tones.wav")
    ref = load(ctx, "tones.wav")
    assert (ref.samples, ref.sample_rate, ref.channels) == (RATE, RATE, 2)
    x = samples(ref)
    assert tone_level(x, 440, 0.1, 0.4) == pytest.approx(0.5, rel=0.02)


def test_load_audio_resamples_and_upmixes(ctx, tmp_path):
    t = np.arange(22050) / 44100
    write_pcm(tmp_path / "mono.wav", (0.5 * np.sin(2 * np.pi * 440 * t))[:, None], 44100)
    ref = load(ctx, "mono.wav")
    assert ref.channels == 2 and ref.sample_rate == RATE
    assert abs(ref.samples - RATE // 2) <= 48
    x = samples(ref)
    assert np.allclose(x[:, 0], x[:, 1])
    # mono is spread over both sides at equal power (ffmpeg's -3 dB centre pan law)
    assert tone_level(x, 440, 0.1, 0.4) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("ext,codec", [(".mp3", "libmp3lame"), (".m4a", "aac")])
def test_load_audio_decodes_compressed_files(ctx, tmp_path, ext, codec):
    src = two_tones(tmp_path / "src.wav")
    subprocess.run([ffmpeg.exe(), "-v", "error", "-y", "-i", str(src), "-c:a", codec, "-b:a", "128k",
                    str(tmp_path / f"clip{ext}")], check=True)
    ref = load(ctx, f"clip{ext}")
    assert abs(ref.duration - 1.0) < 0.06  # encoder padding only
    x = samples(ref)
    assert tone_level(x, 440, 0.1, 0.4) > 0.3 and tone_level(x, 880, 0.1, 0.4) < 0.05


def test_load_audio_trims_to_start_and_seconds(ctx, tmp_path, rec):
    two_tones(tmp_path / "tones.wav")
    ref = load(ctx, "tones.wav", start=0.5, seconds=0.25)
    assert ref.samples == round(0.25 * RATE)
    x = samples(ref)
    assert tone_level(x, 880, 0.0, 0.25) > 0.4 and tone_level(x, 440, 0.0, 0.25) < 0.02
    assert rec.warnings == []
    padded = load(ctx, "tones.wav", start=0.75, seconds=1.0)
    assert padded.samples == RATE and np.abs(samples(padded)[int(0.26 * RATE):]).max() == 0
    assert rec.warnings and "padded" in rec.warnings[0]
    with pytest.raises(NodeError) as e:
        load(ctx, "tones.wav", start=2.0)
    assert e.value.field == "start"


def test_load_audio_rejects_a_file_that_is_not_audio(ctx, tmp_path):
    (tmp_path / "notes.wav").write_text("this is not a sound\n" * 20)
    with pytest.raises(NodeError) as e:
        load(ctx, "notes.wav")
    assert e.value.field == "path" and e.value.fix


def test_load_audio_refuses_paths_outside_the_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    two_tones(tmp_path / "outside.wav")
    ctx = RunContext.standalone(ws)
    for bad in ("../outside.wav", str(tmp_path / "outside.wav"), "", "missing.wav"):
        with pytest.raises(NodeError) as e:
            load(ctx, bad)
        assert e.value.field == "path", bad


def test_load_audio_fingerprint_follows_the_file(tmp_path):
    cls = graph.default_registry().get("io.load_audio").cls
    f = two_tones(tmp_path / "a.wav")
    first = cls.fingerprint({"path": "a.wav"}, tmp_path)
    assert first and first == cls.fingerprint({"path": str(f)}, tmp_path)
    write_pcm(f, sine(0.2, 440), RATE)
    assert cls.fingerprint({"path": "a.wav"}, tmp_path) != first
    assert cls.fingerprint({"path": "nope.wav"}, tmp_path) == "missing"


# ---------------------------------------------------------------------------------------------
# through the engine

def test_narrated_bed_through_the_engine(tmp_path, monkeypatch):
    """text.split -> audio.speech (mapped) -> audio.mix.voices, with audio.music into mix.music.
    Without espeak the speech is timed silence, and the warning reaches the run's events."""
    monkeypatch.setenv("REELGRAPH_ESPEAK", "")
    doc = make_workflow(
        {"lines": ("text.split", {"text": "one two three four\nfive six", "separator": ""}),
         "say": ("audio.speech", {"speed": 120}),
         "bed": ("audio.music", {"mood": "calm", "seconds": 3.0}),
         "mix": ("audio.mix", {"seconds": 4.0})},
        [("lines.items", "say.text"), ("say.audio", "mix.voices"), ("bed.audio", "mix.music")])
    events = []
    result = graph.run(doc, cache=tmp_path / "c", on_event=events.append, workspace=tmp_path)
    assert result.ok, result.failures
    voices = result.value("say.audio")
    assert [v.samples for v in voices] == [2 * RATE, RATE]  # 4 and 2 words at 120 wpm
    out = result.value("mix.audio")
    assert out.samples == 4 * RATE and out.voices == 2 and out.music
    x = samples(out)
    assert dbfs(x[RATE // 2: RATE]) > -45  # the bed under silent narration
    warnings = [e for e in events if e.event == "node_warning"]
    assert warnings and all(e.node == "say" for e in warnings)
    assert "espeak-ng is not installed" in warnings[0].message


def test_load_audio_reruns_when_the_file_changes(tmp_path, wf):
    f = two_tones(tmp_path / "in.wav")
    doc = wf({"load": ("io.load_audio", {"path": "in.wav", "seconds": 0.5}),
              "mix": ("audio.mix", {"seconds": 1.0})},
             [("load.audio", "mix.music")])
    first = graph.run(doc, cache=tmp_path / "c", workspace=tmp_path)
    assert first.ok and "load" in first.ran
    again = graph.run(doc, cache=tmp_path / "c", workspace=tmp_path)
    assert "load" in again.cached
    write_pcm(f, sine(1.0, 660), RATE)
    changed = graph.run(doc, cache=tmp_path / "c", workspace=tmp_path)
    assert "load" in changed.ran
    assert tone_level(samples(changed.value("load.audio")), 660, 0.1, 0.4) > 0.4
    bad = graph.run(wf({"load": ("io.load_audio", {"path": "../x.wav"})}), cache=tmp_path / "c",
                    workspace=tmp_path)
    assert not bad.ok and bad.failures[0].field == "path"


def test_chunked_wav_writing_gives_the_same_bytes_as_one_piece(tmp_path):
    x = sine(0.3, 440, amp=1.2)  # includes clipping
    write_wav(tmp_path / "a.wav", x)
    meta = write_wav(tmp_path / "b.wav", x, chunk=1000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert meta["samples"] == len(x)


def test_mix_can_deliver_aac_that_sounds_like_the_wav(ctx):
    bed = music(ctx, seconds=3.0)
    wav = mix(ctx, music=bed, seconds=3.0)
    m4a = mix(ctx, music=bed, seconds=3.0, format="m4a")
    assert m4a.ext == ".m4a" and m4a.codec == "aac" and wav.codec == "pcm_s16le"
    info = probe(m4a.path)["audio"][0]
    assert info["codec"] == "aac" and info["sample_rate"] == 48000
    assert abs(info["duration"] - 3.0) <= 1 / 24
    a, b = samples(wav), samples(m4a)
    n = min(len(a), len(b))
    assert abs(rms(a[:n]) - rms(b[:n])) < 0.1 * rms(a[:n])
