"""A narration line is spoken in its own language: the storyboard's `language:`, or what the text is
written in, picks the espeak-ng voice (and the model backend says when it cannot speak it). Also the
storyboard pitfall of a 'Shot 1:' description under a '## Shot 1' heading."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import needs_espeak, node
from reelgraph.graph import NodeError
from reelgraph.nodes.audio import _speech_model
from reelgraph.nodes.audio.speech import SpeechNode
from reelgraph.nodes.common import language
from reelgraph.nodes.common.audio import RATE, read_audio

# 20 Han characters (and two commas): "Every night for forty years, Mara lit the lighthouse lamp."
MANDARIN = "四十年来的每一个夜晚，玛拉都会点亮灯塔，照亮大海。"
HAN = len(re.findall(r"[\u4e00-\u9fff]", MANDARIN))




def speech(ctx, text, **kw):
    values = dict(voice="auto", language="auto", speed=160, pitch=50, seed=0, backend="draft", model="")
    values.update(kw)
    return node("audio.speech").run(ctx, text=text, **values)


def parse(ctx, script):
    return node("story.parse_storyboard").run(ctx, script=script, format="auto", default_duration=4.0,
                                              default_camera="static", default_transition="cut", seed=0)


def fields(ctx, shot):
    return node("story.shot_fields").run(ctx, shot=shot)


def heard_seconds(ref) -> float:
    """How long the voice sounds, measured on the decoded file (first to last sound above -40 dBFS)."""
    x = np.abs(read_audio(ref.path)).max(axis=1)
    loud = np.flatnonzero(x > 10 ** (-40 / 20))
    return (loud[-1] - loud[0]) / RATE


# ---------------------------------------------------------------------------------------------
# the voice in the line's language

@needs_espeak
def test_a_chinese_line_is_read_by_a_mandarin_voice_at_a_mandarin_pace(ctx, rec):
    ref = speech(ctx, MANDARIN)
    assert (ref.voice, ref.language) == ("cmn", "zh")
    per_second = HAN / heard_seconds(ref)
    # a Mandarin speaker says 4-6 characters a second; the English voice spelled each one out
    # ("Chinese letter ...") for 8 s and more
    assert 3.5 <= per_second <= 6.5, f"{per_second:.1f} characters a second"
    assert rec.warnings == []


def test_without_espeak_a_chinese_line_is_timed_as_a_mandarin_speaker_says_it(ctx, monkeypatch):
    monkeypatch.setenv("REELGRAPH_ESPEAK", "")
    ref = speech(ctx, MANDARIN)
    assert ref.engine == "silence"
    assert 3.5 <= HAN / ref.duration <= 6.5  # a whitespace word count made it one word: 0.5 s


@needs_espeak
def test_the_storyboard_can_say_cantonese(ctx):
    shots = parse(ctx, f"language: Cantonese\n\n## Shot 1\nA harbour at night.\nnarration: {MANDARIN}\n")["shots"]
    out = fields(ctx, shots[0])
    assert out["language"] == "yue"
    ref = speech(ctx, out["narration"], language=out["language"])
    assert (ref.voice, ref.language) == ("yue", "yue")


@pytest.mark.parametrize("text, code, voice", [
    ("毎晩、マラは灯台のランプをともした。", "ja", "ja"),  # kana among Han characters: Japanese
    ("매일 밤 마라는 등대의 불을 켰다.", "ko", "ko"),
    ("Каждую ночь Мара зажигала лампу.", "ru", "ru"),
    ("كل ليلة كانت مارا تضيء المصباح.", "ar", "ar"),
    ("בכל לילה מרה הדליקה את המנורה.", "he", "he"),
    ("हर रात मारा दीपक जलाती थी।", "hi", "hi"),
    ("Κάθε βράδυ η Μάρα άναβε τη λάμπα.", "el", "el"),
    (MANDARIN, "zh", "cmn"),
])
def test_the_script_decides_the_language_and_the_voice(text, code, voice):
    assert language.detect(text) == code
    assert language.voice_for(code) == voice


@pytest.mark.parametrize("text, code", [
    ("Every night for forty years, Mara lit the lamp of the lighthouse.", "en"),
    ("Chaque nuit pendant quarante ans, Mara allumait la lampe du phare.", "fr"),
    ("Jede Nacht zündete Mara vierzig Jahre lang die Lampe des Leuchtturms an.", "de"),
    ("Cada noche durante cuarenta años, Mara encendía la lámpara del faro.", "es"),
    ("Go!", "en"),  # too short to tell: the detector's guess (Italian) is not trusted
])
def test_latin_text_is_detected_offline(text, code):
    # conftest refuses every connection that is not loopback: the detector's model is the one in its wheel
    assert language.detect(text) == code


@needs_espeak
def test_the_line_is_spoken_with_the_voice_of_its_detected_language(ctx):
    ref = speech(ctx, "Chaque nuit pendant quarante ans, Mara allumait la lampe du phare.")
    assert (ref.voice, ref.language) == ("fr-fr", "fr")
    assert speech(ctx, "Каждую ночь Мара зажигала лампу.").voice == "ru"


@needs_espeak
def test_a_given_language_wins_over_detection_and_a_chosen_voice_is_kept(ctx, rec):
    assert speech(ctx, "Mara", language="de").voice == "de"
    ref = speech(ctx, MANDARIN, voice="en-us")
    assert ref.voice == "en-us"
    assert len(rec.warnings) == 1 and "Mandarin" in rec.warnings[0] and "auto" in rec.warnings[0]


def test_an_unknown_language_names_the_field_and_the_fix(ctx):
    with pytest.raises(NodeError) as e:
        speech(ctx, "hello", language="Mandarin Klingon!")
    assert e.value.field == "language" and "zh" in e.value.fix


def test_old_workflows_get_the_automatic_voice():
    assert SpeechNode.upgrade_params({"voice": "en-us", "speed": 150}, "1.0.0") == {"voice": "auto", "speed": 150}
    assert SpeechNode.upgrade_params({"speed": 150}, "1.0.0")["voice"] == "auto"
    assert SpeechNode.upgrade_params({"voice": "en-gb+f3"}, "1.0.0") == {"voice": "en-gb+f3"}


def test_the_english_model_warns_when_the_line_is_not_english(ctx, rec):
    loaded = SimpleNamespace(info={"label": "facebook/mms-tts-eng", "pipeline": "VitsModel"}, obj={})
    _speech_model._check_language(ctx, _speech_model.run.label(loaded), "zh")
    assert len(rec.warnings) == 1
    w = rec.warnings[0]
    assert "facebook/mms-tts-eng" in w and "Mandarin" in w and "facebook/mms-tts-cmn" in w and "cmn" in w
    _speech_model._check_language(ctx, "facebook/mms-tts-eng", "en")
    _speech_model._check_language(ctx, "facebook/mms-tts-rus", "ru")
    assert len(rec.warnings) == 1


# ---------------------------------------------------------------------------------------------
# the storyboard's language

def test_language_is_read_from_the_top_and_from_each_shot(ctx):
    script = ("language: zh\n\n## Shot 1\nA lighthouse.\nnarration: 每天晚上。\n\n"
              "## Shot 2\nA harbour.\nlanguage: ja\nnarration: 毎晩。\n\n## Shot 3\nThe sea.\n\n"
              "## Shot 4\nA boat.\nlanguage: auto\nnarration: Hello.\n")
    out = [fields(ctx, s)["language"] for s in parse(ctx, script)["shots"]]
    assert out == ["zh", "ja", "zh", ""]  # auto: the voice tells it from the text
    yaml = "language: Japanese\nshots:\n  - prompt: A lighthouse.\n  - prompt: A boat.\n    language: ko\n"
    assert [fields(ctx, s)["language"] for s in parse(ctx, yaml)["shots"]] == ["ja", "ko"]


def test_a_storyboard_without_language_leaves_it_to_the_voice(ctx):
    shot = parse(ctx, "## Shot 1\nA lighthouse.\nnarration: 每天晚上。\n")["shots"][0]
    assert "language" not in shot.extra and fields(ctx, shot)["language"] == ""


def test_an_unknown_language_in_the_storyboard_says_where(ctx):
    with pytest.raises(NodeError) as e:
        parse(ctx, "## Shot 1\nA lighthouse.\nlanguage: 42!\n")
    assert "line 3" in str(e.value) and "shot 1" in str(e.value) and "zh" in e.value.fix


def test_the_workflow_speaks_each_line_in_the_storyboards_language():
    import json

    from reelgraph import workflows
    edges = json.loads(workflows.path("storyboard_to_clip").read_text())["edges"]
    assert {"from": "fields.language", "to": "voice.language"} in edges


# ---------------------------------------------------------------------------------------------
# the pitfall: "Shot 1: ..." under "## Shot 1"

def test_a_shot_line_under_its_own_heading_is_the_description(ctx):
    script = ("## Shot 1\nshot 1: Wide view of a lighthouse at dusk.\nduration: 3\n\n"
              "## Shot 2\nShot 2 - Mara climbs the stairs.\n")
    shots = parse(ctx, script)["shots"]
    assert [s.prompt for s in shots] == ["Wide view of a lighthouse at dusk.", "Mara climbs the stairs."]
    assert shots[0].duration == 3.0


def test_a_shot_line_with_another_number_under_a_heading_says_why_the_shot_is_empty(ctx):
    with pytest.raises(NodeError) as e:
        parse(ctx, "## Shot 1\nShot 2: Wide view of a lighthouse.\n")
    message = str(e.value)
    assert "line 2" in message and "Shot 1" in message and "starts shot 2" in message
    assert "remove 'Shot 2:'" in e.value.fix
