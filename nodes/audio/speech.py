import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
from reelgraph.graph import Audio, Input, Int, Node, NodeError, Output, Param, Resources, Text
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.audio import read_audio, write_wav

from ._dsp import RATE, db, silence

_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-./]*$")
INSTALL_HINT = "espeak-ng is not installed: narration is silent (apt-get install espeak-ng)"


def espeak_exe() -> str | None:
    """The espeak-ng (or espeak) binary: $REELGRAPH_ESPEAK if set (empty: none), else found on PATH."""
    override = os.environ.get("REELGRAPH_ESPEAK")
    if override is not None:
        return override if override and shutil.which(override) else None
    return shutil.which("espeak-ng") or shutil.which("espeak")


def estimated_seconds(text: str, speed: int) -> float:
    """How long ``text`` takes to say at ``speed`` words per minute (at least half a second)."""
    return max(0.5, len(text.split()) / float(speed) * 60.0)


class SpeechNode(backends.Generative, Node):
    """Narration: text read aloud (draft: the espeak-ng synthesiser; timed silence where it is missing)."""

    type = "audio.speech"
    version = "1.0.0"
    task = "speech"
    resources = Resources(cpu=1)

    text = Input(Text, doc="What to say. Empty text gives a tenth of a second of silence.")
    voice = Param(Text, default="en-us",
                  doc="Voice name. Draft: an espeak-ng voice such as en-us, en-gb, de, fr, en-us+f3 "
                      "(+f1..f5 female, +m1..m7 male variants; `espeak-ng --voices` lists them). "
                      "Model backends ignore it: a VITS model has one voice (choose it with model).")
    speed = Param(Int, default=160, min=80, max=400,
                  doc="Speaking rate in words per minute; 160 is the model backends' natural pace.")
    pitch = Param(Int, default=50, min=0, max=99,
                  doc="Voice pitch, 0 (low) to 99 (high); 50 is neutral. Draft only: model backends "
                      "ignore it.")
    seed = Param(Int, default=0, doc="Variation for model backends (the noise of the voice's timing and "
                                     "timbre); the draft voice is always the same.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    audio = Output(Audio, doc="The narration: 48 kHz stereo WAV, trimmed to the speech, peaks at -3 dBFS.")

    def run(self, ctx, text, voice, speed, pitch, seed, backend, model):
        loaded = backends.resolve(ctx, backend, model, self.task)
        if loaded is not None:
            return _speak_model(ctx, loaded, text or "", speed, seed)
        text = text or ""
        voice = (voice or "").strip()
        if not _VOICE.match(voice):
            raise NodeError(f"voice {voice!r} is not a voice name", field="voice",
                            fix="use a name such as en-us, en-gb or en-us+f3 (letters, digits, - + _)")
        exe = espeak_exe()
        if not text.strip():
            samples, engine = silence(0.1), "silence"
        elif exe is None:
            ctx.warn(INSTALL_HINT)
            samples, engine = silence(estimated_seconds(text, speed)), "silence"
        else:
            samples, engine = _speak(ctx, exe, text, voice, speed, pitch), "espeak-ng"
        path = ctx.temp_path(".wav")
        meta = write_wav(path, samples)
        ctx.progress(1.0, "done")
        return ctx.store_file(path, "audio", **meta, text=text[:200], engine=engine, voice=voice)


def _speak_model(ctx, loaded, text, speed, seed):
    from reelgraph.nodes.models import run

    from ._speech_model import speak
    samples, engine = speak(ctx, loaded, text, speed, seed)
    path = ctx.temp_path(".wav")
    meta = write_wav(path, _tidy(samples))
    ctx.progress(1.0, "done")
    return ctx.store_file(path, "audio", **meta, text=text[:200], engine=engine, model=run.label(loaded),
                          seed=int(seed))


def _speak(ctx, exe, text, voice, speed, pitch) -> np.ndarray:
    txt, wav = ctx.temp_path(".txt"), ctx.temp_path(".wav")
    txt.write_text(text, encoding="utf-8")
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), "-f", str(txt)]
    ctx.progress(0.0, "speaking")
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    ctx.progress(0.5, "speaking")  # where a cancel is noticed
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        message = err.read().decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not wav.stat().st_size:
        if "voice" in message.lower():
            raise NodeError(f"espeak-ng has no voice {voice!r}", field="voice",
                            fix="pick one that `espeak-ng --voices` lists, e.g. en-us, en-gb, en-us+f3")
        raise NodeError(f"espeak-ng failed (exit {proc.returncode}): {message or 'no message'}",
                        field="text", fix="check the text; try a plainer voice such as en-us")
    x = read_audio(wav, field="text")
    return _tidy(x)


def _tidy(x: np.ndarray) -> np.ndarray:
    """Cut the synthesiser's leading and trailing silence (keeping a short tail) and set the peak
    to -3 dBFS, so clips start on the first sound and every voice has the same level."""
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak <= 0:
        return x
    loud = np.flatnonzero(np.abs(x).max(axis=1) > peak * 0.01)
    start = max(0, int(loud[0]) - int(0.005 * RATE))
    end = min(len(x), int(loud[-1]) + int(0.15 * RATE))
    x = x[start:end] * np.float32(db(-3.0) / peak)
    return x
