"""The language-model backend of story.expand_prompt: a small instruct LLM writes the prompt.

The shot's fields go into a chat (system instructions + one user message), rendered with the
tokenizer's chat template and decoded greedily, so the same shot and model always give the same
prompt. Every token reports progress, which is also where Stop is noticed. The reply is cleaned up
(labels, preambles, quotes, line breaks) and then held to the node's promises: each character's
sheet description appears word for word, and the style words are in it. The negative prompt stays
the draft's (the caller's): a rule-built list is as good as a model's and never drifts.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from reelgraph.graph import NodeError

from ._expand import CAMERA_WORDS

# Part of the cache key of model-written prompts: bump when the instructions or the clean-up change.
WRITER = "1"

SYSTEM = (
    "You turn short shot descriptions into prompts for an image and video generation model. "
    "Write exactly one shot prompt as a single paragraph of plain, concrete visual description: "
    "first the subject and what it is doing, then the setting, the framing and lens (shot size, "
    "focal length, depth of field), the camera movement when one is given, the light, the mood and "
    "the visual style. When characters are listed, describe each of them with their given "
    "description word for word and never change their age, clothes or features, so that they look "
    "the same in every shot. Describe only this one moment: no dialogue, no sounds, no story "
    "before or after it. Reply with the prompt alone: no title, no label such as 'Prompt:', no "
    "quotation marks, no introduction, no list, no explanation."
)

# detail -> (target words, share of max_new_tokens, what to cover)
DETAIL = {
    "short": (40, 0.5, "Keep to the subject, the framing and the style."),
    "medium": (70, 1.0, "Cover the subject, framing, camera, lighting and style."),
    "rich": (110, 1.5, ("Cover everything: subject, setting, framing, camera, lighting, mood, "
                        "composition and finishing terms.")),
}


def user_message(subject: str, *, camera: str | None, characters: Mapping[str, str], style: str,
                 detail: str) -> str:
    words, _share, cover = DETAIL[detail]
    lines = [f"Shot: {_flat(subject)}"]
    if camera:
        lines.append(f"Camera: {CAMERA_WORDS.get(camera, camera.replace('_', ' '))}")
    if characters:
        lines.append("Characters in this shot (use each description word for word):")
        lines += [f"- {name}: {_flat(desc)}" for name, desc in characters.items()]
    if style:
        lines.append(f"Style: {style}")
    lines.append(f"Length: about {words} words, one paragraph. {cover}")
    return "\n".join(lines)


def render(tokenizer, system: str, user: str, warn: Callable[[str], None]) -> str:
    """The text the model continues: the tokenizer's chat template when it has one."""
    if getattr(tokenizer, "chat_template", None):
        from jinja2 import TemplateError  # what a template's raise_exception() raises
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except (TemplateError, ValueError) as e:
            # some templates (Gemma's) refuse a system turn: fold it into the user's
            if "system" not in str(e).lower():
                raise NodeError(f"the model's chat template failed: {e}", field="model",
                                fix="choose an instruct model whose tokenizer has a working chat "
                                    "template (reelgraph models list)") from None
            merged = [{"role": "user", "content": f"{system}\n\n{user}"}]
            return tokenizer.apply_chat_template(merged, add_generation_prompt=True, tokenize=False)
    warn("the model's tokenizer has no chat template: it is prompted with plain 'System:/User:/"
         "Assistant:' text, which base models follow poorly; an instruct model with a chat template "
         "(e.g. qwen2.5-1.5b-instruct) writes better prompts")
    return f"System: {system}\n\nUser: {user}\n\nAssistant:"


def write(ctx, loaded, *, subject: str, camera: str | None, characters: Mapping[str, str],
          style: str, detail: str, fallback: str) -> str:
    """The model's prompt for one shot; ``fallback`` (the draft) when it wrote nothing usable."""
    from reelgraph.nodes.models import run

    model, tokenizer = _parts(loaded)
    text = render(tokenizer, SYSTEM, user_message(subject, camera=camera, characters=characters,
                                                  style=style, detail=detail), ctx.warn)
    budget = max(16, round(int(run.default(loaded, "max_new_tokens", 160)) * DETAIL[detail][1]))
    reply, cut_short = _generate(ctx, model, tokenizer, text, budget, run.label(loaded))
    prompt = clean(reply, cut_short=cut_short)
    if not prompt:
        ctx.warn(f"model {run.label(loaded)} wrote no usable prompt; using the draft expansion")
        return fallback
    return keep_promises(prompt, characters, style)


def _parts(loaded):
    obj = loaded.obj
    model = obj.get("model") if isinstance(obj, dict) else None
    tokenizer = obj.get("tokenizer") if isinstance(obj, dict) else None
    can_generate = getattr(model, "can_generate", None)
    if tokenizer is None or not callable(can_generate) or not can_generate():
        kind = type(model if model is not None else obj).__name__
        raise NodeError(f"model loads as {kind}, which cannot write text", field="model",
                        fix="choose a text model: a preset such as qwen2.5-1.5b-instruct (reelgraph "
                            "models list) or a folder saved from AutoModelForCausalLM with its tokenizer")
    return model, tokenizer


def _generate(ctx, model, tokenizer, text: str, budget: int, label: str) -> tuple[str, bool]:
    """(the reply, whether the token budget ended it rather than the model)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Ticks(StoppingCriteria):
        """Reports every generated token; ctx.progress raises Cancelled after Stop, which unwinds
        generate() before anything is returned or stored."""

        def __init__(self, start: int):
            self.start = start

        def __call__(self, input_ids, scores, **kwargs):
            done = int(input_ids.shape[-1]) - self.start
            ctx.progress(done / budget, f"token {done}/{budget}")
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    start = int(inputs["input_ids"].shape[-1])
    own = model.generation_config
    stops = list(own.eos_token_id) if isinstance(own.eos_token_id, (list, tuple)) else \
        [own.eos_token_id] if own.eos_token_id is not None else []
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stops:
        stops.append(tokenizer.eos_token_id)  # the end of an assistant turn, when the config lacks it
    pad = own.pad_token_id if own.pad_token_id is not None else tokenizer.pad_token_id
    if pad is None:
        pad = stops[0] if stops else 0
    ctx.progress(0.0, f"writing with {label}")
    with torch.inference_mode():
        # greedy (do_sample given here, so the preset's sampling settings are quietly unused): the
        # same shot always gives the same prompt
        out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=budget,
                             eos_token_id=stops or None, pad_token_id=pad,
                             stopping_criteria=StoppingCriteriaList([Ticks(start)]))
    ctx.progress(1.0, "prompt written")
    new = out[0, start:]
    cut_short = len(new) >= budget and int(new[-1]) not in stops
    return tokenizer.decode(new, skip_special_tokens=True), cut_short


# -- clean-up

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_NEGATIVE = re.compile(r"\bnegative(?:\s+prompt)?\s*:", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:sure|certainly|okay|ok|of course|absolutely|here(?:'s|’s| is| are)|"
                       r"below is)\b[^\n:]{0,100}:\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(?:#+\s*)?(?:(?:final|cinematic|shot|image|video|detailed|expanded|positive|"
                    r"text)\s+)*prompt\s*(?:\d+\s*)?(?:[:\-–—]\s*|$)", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_PAIRS = (('"', '"'), ("“", "”"), ("«", "»"), ("`", "`"))
_QUOTES = "\"“”«»`'‘’"


def clean(reply: str, cut_short: bool = False) -> str:
    """The prompt in a model's reply, as one paragraph without labels, preambles or quotes.
    ``cut_short``: the token budget ended the reply, so its last clause is likely a fragment."""
    text = _THINK.sub(" ", reply).replace("**", "").replace("__", "")
    text = _NEGATIVE.split(text, maxsplit=1)[0]  # the negative prompt is the node's own
    lines = [ln.strip() for ln in text.strip().splitlines()]
    while lines and (not lines[0] or (lines[0].endswith(":") and len(lines[0].split()) <= 12)):
        lines.pop(0)  # "Here is the prompt:" on a line of its own
    text = _BULLET.sub("", "\n".join(lines))
    for _ in range(3):  # '"Sure! Here is the prompt: Prompt: ..."' peels in a few passes
        text = _LABEL.sub("", _PREAMBLE.sub("", _unquote(text.strip()))).strip()
    text = " ".join(_unquote(text).split())
    if cut_short:
        # "... Wide shot, 24mm lens, soft pin": drop the half-written clause, keep whole ones
        last = max(text.rfind(", "), text.rfind(". "), text.rfind("; "))
        if last >= 0.3 * len(text):
            text = text[:last + (1 if text[last] == "." else 0)]
    return text.rstrip(" ,;:-–—")


def _unquote(text: str) -> str:
    text = text.strip()
    while len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    for a, b in _PAIRS:  # an opening quote whose closing one was never written (or the reverse)
        if text.count(a) + (text.count(b) if a != b else 0) == 1:
            text = text.removeprefix(a) if text.startswith(a) else text.removesuffix(b)
    return text.strip()


def keep_promises(prompt: str, characters: Mapping[str, str], style: str) -> str:
    """Each character's sheet description word for word (after the subject sentence, where the
    draft puts it: text encoders that keep only a prompt's first tokens still see it), and the
    style words at the end."""
    missing = []
    for name, desc in characters.items():
        desc = _flat(desc)
        if desc and desc not in prompt:
            missing.append(f"{name}: {desc}" + ("" if desc[-1] in ".!?" else "."))
    if missing:
        m = re.search(r"[.!?…](?=\s|$)", prompt)
        cut = m.end() if m else len(prompt)
        head = prompt[:cut] if m else _end(prompt)
        prompt = " ".join(p for p in (head, *missing, prompt[cut:].strip()) if p)
    lower = prompt.lower()
    terms = [t for t in (_flat(s).strip(" .") for s in style.split(",")) if t and t.lower() not in lower]
    if terms:
        look = ", ".join(terms)
        prompt = f"{_end(prompt)} {look[0].upper()}{look[1:]}."
    return prompt


def _end(text: str) -> str:
    text = text.rstrip(" ,;:-–—")
    return text if not text or text[-1] in ".!?…" else text + "."


def _flat(text: str) -> str:
    return " ".join(str(text).split())
