"""audio.speech through a VITS text-to-speech model (transformers ``VitsModel``: MMS-TTS, VITS LJ Speech).

torch is imported inside the functions: the node pack loads without it. The text is read one
sentence at a time (VITS attends over the whole input, so memory grows with its square; and a
cancel is noticed between sentences). ``speed`` in words per minute maps to VITS's speaking rate
(160 wpm: the model's own pace); ``seed`` seeds the noise VITS draws for durations and the
waveform, so a clip can be re-made exactly. The result is 48 kHz stereo, untrimmed: the node
trims and levels it as it does the draft's.
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager

import numpy as np
from reelgraph.graph import NodeError
from reelgraph.nodes.models import run

from ._dsp import RATE, resample, silence

PIPELINES = ("VitsModel",)
NEUTRAL_WPM = 160.0  # the speed at which the model speaks at its trained pace
MAX_CHARS = 400  # per model call; longer sentences are cut at a comma or a space
PAUSE = 0.25  # seconds between two sentences at the neutral speed (scaled with the speed)

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")


def sentences(text: str, limit: int = MAX_CHARS) -> list[str]:
    """The text in pieces to read one at a time: sentences (and lines), long ones cut at the last
    comma or space before ``limit`` characters."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text or ""):
        s = " ".join(part.split())
        while len(s) > limit:
            head = s[:limit]
            cut = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
            cut = cut + 1 if cut > limit // 3 else (head.rfind(" ") if head.rfind(" ") > 0 else limit)
            out.append(s[:cut].strip())
            s = s[cut:].strip()
        if s:
            out.append(s)
    return out


def speak(ctx, loaded, text: str, speed: int, seed: int, language: str = "") -> tuple[np.ndarray, str]:
    """(float32 (samples, 2) at 48 kHz, engine) for ``text``; blank text is 0.1 s of silence.
    ``language``: the line's language code, checked against the one the model speaks."""
    run.check_pipeline(loaded, PIPELINES, "read text aloud")
    if (text or "").strip() and language:
        _check_language(ctx, run.label(loaded), language)
    obj = loaded.obj
    model, tokenizer = obj["model"], obj["tokenizer"]
    if not (text or "").strip():
        return silence(0.1), "silence"
    import torch
    parts = sentences(text)
    rate = float(speed) / NEUTRAL_WPM
    model_rate = int(model.config.sampling_rate)
    device = next(model.parameters()).device
    gap = np.zeros(int(round(PAUSE / rate * model_rate)), dtype=np.float32)
    pieces: list[np.ndarray] = []
    with _seeded(device, seed), _speaking_rate(model, rate) as extra, torch.inference_mode():
        for i, part in enumerate(parts):
            ctx.progress(0.9 * i / len(parts), f"sentence {i + 1}/{len(parts)}")
            ids = _tokens(tokenizer, part)
            if ids is None:
                continue
            wave = model(**{k: v.to(device) for k, v in ids.items()}, **extra).waveform[0]
            if pieces:
                pieces.append(gap)
            pieces.append(wave.float().cpu().numpy())
    ctx.progress(0.9, "resampling")
    if not pieces:
        from .speech import estimated_seconds
        ctx.warn(f"model {run.label(loaded)} can read none of the characters in the text; the narration "
                 "is silent (write it in the model's language and alphabet, numbers as words)")
        return silence(estimated_seconds(text, speed)), "silence"
    mono = np.concatenate(pieces)[:, None]
    return np.repeat(resample(mono, model_rate, RATE), 2, axis=1), "vits"


_MMS = re.compile(r"mms-tts-([a-z]{3})", re.I)


def model_language(label: str) -> str:
    """The ISO 639-3 code of the language a VITS model speaks: MMS-TTS says it in its name
    (facebook/mms-tts-eng); the others (VITS LJ Speech) are English."""
    m = _MMS.search(label or "")
    return m.group(1).lower() if m else "eng"


def _check_language(ctx, label: str, code: str) -> None:
    """Warn when the line is in another language than the model speaks: a VITS vocabulary drops the
    letters it lacks, so the line comes out garbled or silent. No download: a warning that names
    the model to use and the draft voice that speaks it now."""
    from reelgraph.nodes.common import language as lang
    want = lang.info(code)
    have = model_language(label)
    if want.iso3 == have:
        return
    ctx.warn(f"model {label} speaks '{have}', but this line is {want.name} ('{code}'): it will be "
             f"garbled or silent. Use a model for {want.name} (MMS-TTS: facebook/mms-tts-{want.iso3}, "
             f"where the MMS collection has one; some need the text romanized), or the "
             f"draft backend, which reads it with the espeak-ng voice {want.voice}.")


def _tokens(tokenizer, text: str):
    """The model inputs for one sentence, or None when the tokenizer keeps nothing of it (VITS
    vocabularies drop the characters they lack: digits, other alphabets)."""
    try:
        enc = tokenizer(text, return_tensors="pt")
    except ImportError as e:  # VITS LJ Speech phonemizes with espeak through `phonemizer`
        raise NodeError(f"the model's tokenizer needs a package that is not installed: {e}", field="model",
                        fix="pip install phonemizer (and apt-get install espeak-ng), or use the "
                            "mms-tts-eng preset") from None
    ids = enc["input_ids"]
    if ids.shape[-1] == 0 or not bool((ids != (tokenizer.pad_token_id or 0)).any()):
        return None
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}


@contextmanager
def _seeded(device, seed: int):
    """The global torch RNG seeded for the call (VitsModel takes no generator) and restored after,
    so the seed decides the voice's noise and nothing else in the process is disturbed."""
    import torch
    accelerated = device.type == "cuda"
    index = device.index if device.index is not None else (torch.cuda.current_device() if accelerated else 0)
    with torch.random.fork_rng(devices=[index] if accelerated else [], device_type="cuda"):
        torch.manual_seed(int(seed) % (2**63))
        yield


@contextmanager
def _speaking_rate(model, rate: float):
    """Keyword arguments that make ``model`` speak at ``rate`` × its pace: the forward argument where
    this transformers version has one, else the model's attribute, set for the call only (the model
    is shared across calls by the model manager)."""
    if "speaking_rate" in inspect.signature(model.forward).parameters:
        yield {"speaking_rate": rate}
        return
    before = model.speaking_rate
    model.speaking_rate = rate
    try:
        yield {}
    finally:
        model.speaking_rate = before
