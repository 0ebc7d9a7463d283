"""story.expand_prompt with a real language model: a tiny random Qwen2 (tests/tiny/text.py) loaded
from disk, run through the engine on the CPU. Random weights write gibberish, so these tests check
structure: the promises the node keeps, determinism, the chat template, progress, Stop, model lookup.
"""

from __future__ import annotations

import json

import pytest
from conftest import RESOURCES, make_workflow, node
from reelgraph import graph
from reelgraph.graph import CancelToken, RunContext
from tiny import text as tiny_text
from tiny import to_hub_cache

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEEPER = (RESOURCES / "storyboards" / "keeper.md").read_text()
MARA = "an old lighthouse keeper, grey braid, yellow oilskin coat"
FINN = "a ten-year-old boy, red scarf"


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return tiny_text.build(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def lm_without_template(tmp_path_factory):
    return tiny_text.build(tmp_path_factory.mktemp("tiny-lm-plain"), chat_template=None)


def board(model, **params) -> dict:
    return make_workflow(
        {"parse": ("story.parse_storyboard", {"script": KEEPER, "seed": 3}),
         "expand": ("story.expand_prompt", {"backend": "diffusers", "model": str(model), **params})},
        [("parse.shots", "expand.shot")])


def from_text(model, text="a fox crossing a frozen river, slow dolly in", **params) -> dict:
    return make_workflow(
        {"words": ("text.constant", {"text": text}),
         "expand": ("story.expand_prompt", {"backend": "diffusers", "model": str(model), **params}),
         "after": ("text.template", {"template": "{a}!"})},
        [("words.out", "expand.text"), ("expand.prompt", "after.a")])


def draft(ctx, **values):
    values = {"shot": None, "text": None, "backend": "draft", "model": "", "style": "",
              "detail": "medium", **values}
    return node("story.expand_prompt").run(ctx, **values)


def test_storyboard_shots_keep_every_character_sheet_word_for_word(lm, tmp_path, ctx, monkeypatch):
    from reelgraph.nodes.story import _expand_model
    rendered = []  # what the model was given, through the tokenizer's chat template
    real = _expand_model.render
    monkeypatch.setattr(_expand_model, "render", lambda *a: rendered.append(real(*a)) or rendered[-1])
    events = []
    result = graph.run(board(lm, style="35mm", detail="short"), cache=tmp_path / "c", on_event=events.append)
    assert result.ok, result.failures
    shots = result.value("parse.shots")
    assert [list(s.characters) for s in shots][1:] == [["Mara"], ["Finn"], ["Mara", "Finn"]]
    prompts, negatives = result.value("expand.prompt"), result.value("expand.negative_prompt")
    assert len(prompts) == len(shots) == len(rendered) == 4
    sheets = {"Mara": MARA, "Finn": FINN}
    for shot, prompt, negative in zip(shots, prompts, negatives):
        assert prompt.strip() and "\n" not in prompt and "  " not in prompt
        for name in shot.characters:
            assert sheets[name] in prompt, (name, prompt)
        for term in ("moody watercolour", "teal and amber", "35mm"):  # the style words are kept too
            assert term in prompt.lower()
        reference = draft(ctx, shot=shot, style="35mm", detail="short")
        assert prompt != reference["prompt"], "the model wrote it, not the draft"
        assert negative == reference["negative_prompt"]  # the negative prompt is the draft's
    assert not [e for e in events if e.event == "node_warning"]

    climb = next(r for r in rendered if "spiral stairs" in r)  # shot 2: Mara climbs, camera tilt up
    assert climb.startswith("<|im_start|>system\n" + _expand_model.SYSTEM + "<|im_end|>\n<|im_start|>user\n")
    assert climb.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert "Shot: Mara climbs the spiral stairs, lantern in hand." in climb
    assert "Camera: slow tilt up" in climb
    assert f"- Mara: {MARA}" in climb and "Finn" not in climb
    assert "Style: moody watercolour, teal and amber, 35mm" in climb
    assert "about 40 words" in climb  # detail short


def test_the_same_shot_gives_the_same_prompt(lm, tmp_path):
    first = graph.run(board(lm, detail="short"), cache=False)
    second = graph.run(board(lm, detail="short"), cache=False)
    assert len({p[:20] for p in first.value("expand.prompt")}) == 4  # what it writes follows the shot
    assert first.ok and second.ok
    assert first.value("expand.prompt") == second.value("expand.prompt")
    assert first.value("expand.negative_prompt") == second.value("expand.negative_prompt")


def test_text_input_is_expanded_by_the_model(lm, ctx):
    result = graph.run(from_text(lm), cache=False)
    assert result.ok, result.failures
    prompt = result.value("expand.prompt")
    reference = draft(ctx, text="a fox crossing a frozen river, slow dolly in")
    assert prompt and prompt != reference["prompt"]
    assert result.value("expand.negative_prompt") == reference["negative_prompt"]
    assert result.value("after.text") == prompt + "!"


def test_a_tokenizer_without_chat_template_is_prompted_plainly_and_says_so(lm_without_template):
    events = []
    result = graph.run(from_text(lm_without_template), cache=False, on_event=events.append)
    assert result.ok, result.failures
    warnings = [e.message for e in events if e.event == "node_warning" and e.node == "expand"]
    assert len(warnings) == 1 and "no chat template" in warnings[0]
    assert result.value("expand.prompt")


def test_progress_is_reported_for_every_token(lm, every_progress_event):
    events = []
    result = graph.run(from_text(lm, detail="short"), cache=False, on_event=events.append)
    assert result.ok, result.failures
    tokens = [e.message for e in events if e.event == "node_progress" and e.node == "expand"
              and (e.message or "").startswith("token")]
    # no preset: 160 new tokens at most, half of it for short; the tiny model never stops early
    assert tokens == [f"token {i}/80" for i in range(1, 81)]
    fractions = [e.progress for e in events if e.event == "node_progress" and e.node == "expand"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_stop_at_the_first_token_cancels_and_stores_nothing(lm, tmp_path, every_progress_event):
    token = CancelToken()
    events = []

    def listener(ev):
        events.append(ev)
        if ev.event == "node_progress" and ev.node == "expand" and (ev.message or "").startswith("token"):
            token.cancel()

    wf = from_text(lm, detail="rich")
    result = graph.run(wf, cache=tmp_path / "c", cancel=token, on_event=listener)
    assert result.status == "cancelled" and not result.ok and result.failures == []
    assert "expand" not in result.ran and "after" not in result.ran
    written = [e for e in events if e.event == "node_progress" and e.node == "expand"
               and (e.message or "").startswith("token")]
    assert 1 <= len(written) < 240, "generation went on after Stop"
    assert not [e for e in events if e.event == "node_finished" and e.node == "expand"]
    entries = {e.node: e.status for e in graph.plan(wf, cache=tmp_path / "c", look_ahead=False)}
    assert entries["expand"] == "run"  # nothing half-written was kept


def test_the_planner_looks_ahead_through_the_draft_only(lm, tmp_path):
    cls = node("story.expand_prompt").__class__
    assert cls.runs_instantly({"backend": "draft"}) and not cls.runs_instantly({"backend": "diffusers"})

    def after(backend):
        wf = from_text(lm, backend=backend)
        return {e.node: e for e in graph.plan(wf, cache=tmp_path / "c")}["after"]

    assert after("draft").reason.startswith("not in cache")  # the draft ran in the plan: values known
    assert after("diffusers").reason == "input from expand will change"  # the model never runs in a plan


def test_a_preset_id_finds_its_weights_in_the_hub_cache(lm, tmp_path, every_progress_event):
    to_hub_cache(lm, tmp_path / "hf-home" / "hub", "Qwen/Qwen2.5-1.5B-Instruct")
    events = []
    result = graph.run(from_text("qwen2.5-1.5b-instruct", detail="short"), cache=tmp_path / "c",
                       on_event=events.append)
    assert result.ok, result.failures
    assert result.value("expand.prompt")
    said = [e.message for e in events if e.event == "node_progress" and e.node == "expand"]
    assert "writing with qwen2.5-1.5b-instruct" in said
    assert said[-2:] == ["token 80/80", "prompt written"]  # the preset's max_new_tokens: 160, half for short


def test_a_picture_model_is_refused_naming_the_model_field(tmp_path):
    folder = tmp_path / "not-a-language-model"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                         "_diffusers_version": "0.42.1"}))
    result = graph.run(from_text(folder), cache=tmp_path / "c")
    assert not result.ok
    failure = next(f for f in result.failures if f.node == "expand")
    assert failure.field == "model"
    assert "not a language model" in failure.message and "qwen2.5" in failure.fix


def test_an_empty_reply_falls_back_to_the_draft_with_a_warning(lm, tmp_path, monkeypatch):
    from reelgraph.nodes.story import _expand_model
    monkeypatch.setattr(_expand_model, "_generate", lambda *a, **k: ('  "Prompt:"  \n', False))
    said = []
    ctx = RunContext.standalone(tmp_path, emit=lambda kind, **kw: said.append((kind, kw)))
    out = draft(ctx, text="a fox on a rock", backend="diffusers", model=str(lm))
    assert out == draft(RunContext.standalone(tmp_path), text="a fox on a rock")
    assert [kw["message"] for kind, kw in said if kind == "node_warning"] == [
        f"model {lm} wrote no usable prompt; using the draft expansion"]


@pytest.mark.parametrize("reply,expected", [
    ("Sure! Here is the prompt:\n\n\"A fox crosses the ice at dawn.\"", "A fox crosses the ice at dawn."),
    ("**Prompt:** A fox   crosses\nthe ice.\n\nNegative prompt: blurry", "A fox crosses the ice."),
    ("<think>plan it</think>Cinematic prompt: “A fox at dawn, 85mm lens.”", "A fox at dawn, 85mm lens."),
    ("- A fox at dawn.\n- Soft light.", "A fox at dawn. Soft light."),
    ("A fox at dawn, soft light,", "A fox at dawn, soft light"),
    ("'A fox at dawn.'", "A fox at dawn."),
    ('"A fox on the “ice” at dawn', "A fox on the “ice” at dawn"),
    ("   \n", ""),
])
def test_the_reply_is_cleaned_to_one_paragraph(reply, expected):
    from reelgraph.nodes.story._expand_model import clean
    assert clean(reply) == expected


def test_a_reply_cut_off_by_the_token_budget_loses_its_half_written_clause():
    from reelgraph.nodes.story._expand_model import clean
    reply = "A fox at dawn, long shadows on the snow. Wide shot, 24mm lens, soft pin"
    assert clean(reply, cut_short=True) == "A fox at dawn, long shadows on the snow. Wide shot, 24mm lens"
    assert clean(reply) == reply  # the model ended it there itself: every word stays
    long = "A fox. Wide shot, a long slow sweeping dolly move across the frozen lake at first light"
    assert clean(long, cut_short=True) == long  # cutting at the last comma would lose too much


def test_missing_character_sheets_go_after_the_subject_and_style_at_the_end():
    from reelgraph.nodes.story._expand_model import keep_promises
    prompt = keep_promises("Mara climbs the stairs. Warm lantern light, watercolour wash.",
                           {"Mara": MARA, "Finn": "a boy,  red scarf"}, "moody watercolour, 35mm")
    assert prompt == (f"Mara climbs the stairs. Mara: {MARA}. Finn: a boy, red scarf. Warm lantern light, "
                      "watercolour wash. Moody watercolour, 35mm.")
    kept = f"Mara, {MARA}, climbs in a moody watercolour, 35mm."
    assert keep_promises(kept, {"Mara": MARA}, "moody watercolour, 35mm") == kept


def test_a_template_that_refuses_a_system_turn_gets_the_instructions_in_the_user_turn():
    from reelgraph.nodes.story._expand_model import render
    strict = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
              "{% endif %}" + tiny_text.CHATML)
    said = []
    out = render(tiny_text.tokenizer(strict), "Be vivid.", "Shot: a fox", said.append)
    assert out == "<|im_start|>user\nBe vivid.\n\nShot: a fox<|im_end|>\n<|im_start|>assistant\n"
    assert said == []
    plain = render(tiny_text.tokenizer(None), "Be vivid.", "Shot: a fox", said.append)
    assert plain == "System: Be vivid.\n\nUser: Shot: a fox\n\nAssistant:"
    assert len(said) == 1 and "no chat template" in said[0]
