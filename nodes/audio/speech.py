import re
import subprocess
import tempfile

import numpy as np
from reelgraph.graph import Audio, Input, Int, Node, NodeError, Output, Param, Resources, Text, sketch_media
from reelgraph.nodes.common import backends
from reelgraph.nodes.common import language as lang
from reelgraph.nodes.common.audio import read_audio, write_wav
from reelgraph.nodes.common.language import espeak_exe, estimated_seconds  # noqa: F401 (this module's API)

from ._dsp import RATE, db, silence

_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-./]*$")
INSTALL_HINT = "espeak-ng is not installed: narration is silent (apt-get install espeak-ng)"
OLD_DEFAULT_VOICE = "en-us"  # audio.speech 1.0 spoke every line with it


class SpeechNode(backends.Generative, Node):
    """Narration: text read aloud (draft: the espeak-ng synthesiser; timed silence where it is missing)."""

    type = "audio.speech"
    version = "1.1.0"
    task = "speech"
    resources = Resources(cpu=1)

    text = Input(Text, doc="What to say. Empty text gives a tenth of a second of silence.")
    language = Param(Text, default="auto",
                     doc="The line's language: auto (from its script: Chinese characters are Mandarin, "
                         "kana Japanese, Hangul Korean, Cyrillic Russian...; Latin text is detected), or "
                         "a code or name such as zh, yue (Cantonese), ja, ko, ru, fr, de, es. Wire "
                         "story.shot_fields' language to follow the storyboard's 'language:'.")
    voice = Param(Text, default="auto",
                  doc="Voice name. auto: the espeak-ng voice of the line's language (cmn for Mandarin, "
                      "yue, ja, ko, ru, fr-fr, de, en-us...). Or an espeak-ng voice such as en-gb, "
                      "en-us+f3 (+f1..f5 female, +m1..m7 male variants; `espeak-ng --voices` lists "
                      "them). Model backends ignore it: a VITS model has one voice (choose it with model).")
    speed = Param(Int, default=160, min=80, max=400,
                  doc="Speaking rate in words per minute; 160 is the model backends' natural pace. "
                      "A Chinese character is a syllable: Mandarin and Cantonese are read at about "
                      "4-5 characters a second at 160.")
    pitch = Param(Int, default=50, min=0, max=99,
                  doc="Voice pitch, 0 (low) to 99 (high); 50 is neutral. Draft only: model backends "
                      "ignore it.")
    seed = Param(Int, default=0, doc="Variation for model backends (the noise of the voice's timing and "
                                     "timbre); the draft voice is always the same.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    audio = Output(Audio, doc="The narration: 48 kHz stereo WAV, trimmed to the speech, peaks at -3 dBFS.")

    @classmethod
    def upgrade_params(cls, params: dict, from_version: str) -> dict:
        """1.0 read every line with en-us, its default: auto now picks the line's voice (en-us for
        English, so English workflows sound the same)."""
        if from_version.startswith("1.0") and params.get("voice", OLD_DEFAULT_VOICE) == OLD_DEFAULT_VOICE:
            params = {**params, "voice": "auto"}
        return params

    @classmethod
    def sketch(cls, values: dict) -> dict:
        seconds = estimated_seconds(values.get("text") or "", int(values.get("speed") or 160))
        return {"audio": sketch_media("audio", duration=seconds, sample_rate=RATE)}

    def run(self, ctx, text, voice, speed, pitch, seed, backend, model, language="auto"):
        text = text or ""
        code = _language(text, language)
        loaded = backends.resolve(ctx, backend, model, self.task)
        if loaded is not None:
            return _speak_model(ctx, loaded, text, speed, seed, code)
        voice = _voice(ctx, (voice or "").strip(), code)
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
            rate = lang.espeak_rate(lang.normalize(voice.split("+")[0]) or code, speed)
            samples, engine = _speak(ctx, exe, text, voice, rate, pitch), "espeak-ng"
        path = ctx.temp_path(".wav")
        meta = write_wav(path, samples)
        ctx.progress(1.0, "done")
        return ctx.store_file(path, "audio", **meta, text=text[:200], engine=engine, voice=voice,
                              language=code)


def _language(text: str, language: str) -> str:
    """The line's language code: the one given (the storyboard's, wired), else told from the text."""
    code = lang.normalize(language)
    if code is None:
        raise NodeError(f"language {language!r} is not a language", field="language",
                        fix="write auto, or a code or name such as zh, yue, ja, ko, ru, fr, de, es, en")
    return code or lang.detect(text)


def _voice(ctx, voice: str, code: str) -> str:
    """auto: the language's espeak-ng voice. A chosen voice is kept, with a warning when it is for
    another language than the line's (en-us reads Chinese characters as 'Chinese letter')."""
    if voice.lower() in lang.AUTO:
        return lang.voice_for(code)
    own = lang.normalize(voice.split("+")[0])
    if own and code and own.split("-")[0] != code.split("-")[0] and code != "en":
        ctx.warn(f"voice {voice!r} is not a {lang.info(code).name} voice, but the line is "
                 f"{lang.info(code).name}: it will sound wrong. Set voice to auto (or "
                 f"{lang.voice_for(code)}).")
    return voice


def _speak_model(ctx, loaded, text, speed, seed, code):
    from reelgraph.nodes.models import run

    from ._speech_model import speak
    samples, engine = speak(ctx, loaded, text, speed, seed, code)
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
