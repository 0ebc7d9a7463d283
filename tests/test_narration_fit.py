"""Narration that fits its shot. audio.mix places each voice at its shot's start; a line longer than its
shot is fitted by the storyboard's `narration_fit` (or the mix's `fit`): fit speeds it up within a
bound, extend lengthens the shot at the storyboard (so keyframes, video and the timeline get the
longer duration), overlap runs on into a following shot only when that shot has no narration.
Never two voices at once; a line that still does not fit is cut with a warning that says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import needs_espeak, node
from reelgraph import workflows
from reelgraph.graph import NodeError
from reelgraph.nodes.common.audio import RATE, read_audio, write_wav

LOW, HIGH = 300.0, 1000.0  # shot 1's "voice" and shot 2's, told apart by pitch




def tone(ctx, seconds: float, freq: float):
    """A voice clip: a steady tone (silence when freq is 0), as audio.speech would hand it over."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    x = (0.5 * np.sin(2 * np.pi * freq * t)) if freq else np.zeros_like(t)
    path = ctx.temp_path(".wav")
    return ctx.store_file(path, "audio", **write_wav(path, np.stack([x, x], axis=1).astype(np.float32)))


def mix(ctx, voices, starts, **kw):
    values = dict(music=None, seconds=0.0, music_db=-12.0, voice_db=0.0, duck_db=-10.0, fade_out=0.0,
                  format="wav")
    values.update(kw)
    return read_audio(node("audio.mix").run(ctx, voices=voices, starts=starts, **values).path)


def level(x: np.ndarray, freq: float, t0: float, t1: float) -> float:
    """Amplitude of a tone at ``freq`` between t0 and t1 seconds."""
    seg = x[int(t0 * RATE):int(t1 * RATE)].mean(axis=1)
    t = np.arange(len(seg)) / RATE
    return float(2 * np.abs(np.mean(seg * np.exp(-2j * np.pi * freq * t))))


def last_sound(x: np.ndarray, freq: float) -> float:
    """When the tone at ``freq`` is last heard (10 ms windows)."""
    win = RATE // 100
    heard = [k for k in range(len(x) // win) if level(x, freq, k * win / RATE, (k + 1) * win / RATE) > 0.05]
    return (heard[-1] + 1) * win / RATE if heard else 0.0


def parse(ctx, script):
    return node("story.parse_storyboard").run(ctx, script=script, format="auto", default_duration=4.0,
                                              default_camera="static", default_transition="cut", seed=0)


# ---------------------------------------------------------------------------------------------
# fit

def test_fit_speeds_a_long_line_up_to_end_with_its_shot(ctx, rec):
    x = mix(ctx, [tone(ctx, 2.3, LOW), tone(ctx, 1.0, HIGH)], [0.0, 2.0])
    assert 1.9 <= last_sound(x, LOW) <= 2.0  # 2.3 s said in 2 s: 1.15x, within the 1.25x bound
    assert level(x, LOW, 2.05, 2.5) < 0.01 and level(x, HIGH, 2.05, 2.5) > 0.3  # one voice at a time
    x = mix(ctx, [tone(ctx, 1.5, LOW), tone(ctx, 1.0, HIGH)], [0.0, 2.0])
    assert 1.45 <= last_sound(x, LOW) <= 1.55  # a line that fits is left as it is
    assert rec.warnings == []


def test_fit_stops_at_its_bound_and_warns_what_was_cut(ctx, rec):
    x = mix(ctx, [tone(ctx, 3.0, LOW), tone(ctx, 1.0, HIGH)], [0.0, 2.0])
    assert level(x, LOW, 2.05, 2.5) < 0.01  # never two voices at once
    assert len(rec.warnings) == 1
    w = rec.warnings[0]
    # 3 s at 1.25x is 2.4 s: 0.4 s do not fit before shot 2
    assert "shot 1" in w and "3.00 s" in w and "2.00 s" in w and "0.40 s" in w and "shot 2" in w
    assert "narration_fit: extend" in w


def test_the_bound_is_a_param(ctx, rec):
    mix(ctx, [tone(ctx, 2.3, LOW), tone(ctx, 1.0, HIGH)], [0.0, 2.0], max_speedup=1.0)
    assert len(rec.warnings) == 1 and "0.30 s are cut" in rec.warnings[0]


def test_the_last_line_fits_the_length_of_the_mix(ctx, rec):
    mix(ctx, [tone(ctx, 3.0, LOW)], [0.0], seconds=2.0)
    assert len(rec.warnings) == 1 and "the mix ends" in rec.warnings[0]


# ---------------------------------------------------------------------------------------------
# overlap

def test_overlap_carries_a_line_into_a_shot_without_narration(ctx, rec):
    voices = [tone(ctx, 2.6, LOW), tone(ctx, 0.1, 0), tone(ctx, 1.0, HIGH)]
    x = mix(ctx, voices, [0.0, 2.0, 4.0], fit="overlap")
    assert 2.55 <= last_sound(x, LOW) <= 2.65  # untouched: shot 2 is silent
    assert level(x, HIGH, 4.05, 4.9) > 0.3
    assert rec.warnings == []


def test_overlap_never_runs_into_a_shot_that_has_narration(ctx, rec):
    x = mix(ctx, [tone(ctx, 2.3, LOW), tone(ctx, 1.0, HIGH)], [0.0, 2.0],
            narration_fit=["overlap", ""])
    assert last_sound(x, LOW) <= 2.0 and level(x, LOW, 2.05, 2.5) < 0.01
    assert rec.warnings == []  # sped up within the bound instead


def test_each_voice_takes_its_own_policy(ctx, rec):
    voices = [tone(ctx, 2.6, LOW), tone(ctx, 0.1, 0), tone(ctx, 1.0, HIGH)]
    x = mix(ctx, voices, [0.0, 2.0, 4.0], narration_fit=["fit", "overlap", "overlap"])
    assert last_sound(x, LOW) <= 2.0  # shot 1 says fit: it ends with its shot although shot 2 is silent
    with pytest.raises(NodeError) as e:
        mix(ctx, voices, [0.0, 2.0, 4.0], narration_fit=["fit", "squeeze", ""])
    assert e.value.field == "narration_fit" and "extend" in e.value.fix
    with pytest.raises(NodeError) as e:
        mix(ctx, voices, [0.0, 2.0, 4.0], narration_fit=["fit"])
    assert e.value.field == "narration_fit"


# ---------------------------------------------------------------------------------------------
# extend: decided at the storyboard, so every node downstream gets the longer shot

LONG_LINE = "Every night for forty years, through storms and calm, Mara climbed the stairs and lit the lamp."


@needs_espeak
def test_extend_lengthens_the_shot_to_hold_its_line(ctx, rec):
    script = (f"narration_fit: extend\n\n## Shot 1\nA lighthouse.\nduration: 2\nnarration: {LONG_LINE}\n\n"
              "## Shot 2\nThe sea.\nduration: 2\n")
    shots = parse(ctx, script)["shots"]
    voice = node("audio.speech").run(ctx, text=LONG_LINE, voice="auto", language="auto", speed=160, pitch=50,
                                     seed=0, backend="draft", model="")
    assert shots[0].duration >= voice.duration + 0.25  # the whole line, and a breath
    assert shots[0].duration <= voice.duration + 1.0
    assert shots[1].duration == 2.0  # nothing to hold: as written
    durations = [node("story.shot_fields").run(ctx, shot=s)["duration"] for s in shots]
    plan = node("assemble.timeline").run(ctx, durations=durations, transitions=None, transition="crossfade",
                                         transition_seconds=0.5, fps=24)
    x = mix(ctx, [voice, tone(ctx, 0.1, 0)], plan["starts"], seconds=plan["duration"])
    assert rec.warnings == []
    assert np.abs(x).max(axis=1)[int((voice.duration - 0.3) * RATE):].max() > 0.01  # heard to its end
    unset = parse(ctx, script.replace("narration_fit: extend", "style: ink"))["shots"]
    assert unset[0].duration == 2.0  # without extend the shot keeps its duration


def test_the_policy_is_read_per_shot_and_checked(ctx):
    script = ("narration_fit: overlap\n\n## Shot 1\nA lighthouse.\nnarration_fit: fit\n\n"
              "## Shot 2\nThe sea.\n")
    out = [node("story.shot_fields").run(ctx, shot=s)["narration_fit"] for s in parse(ctx, script)["shots"]]
    assert out == ["fit", "overlap"]
    with pytest.raises(NodeError) as e:
        parse(ctx, "## Shot 1\nA lighthouse.\nnarration_fit: squeeze\n")
    assert "line 3" in str(e.value) and "extend" in e.value.fix


def test_the_workflow_hands_each_shots_policy_to_the_mix():
    edges = json.loads(workflows.path("storyboard_to_clip").read_text())["edges"]
    assert {"from": "fields.narration_fit", "to": "mix.narration_fit"} in edges
    assert {"from": "timeline.starts", "to": "mix.starts"} in edges
