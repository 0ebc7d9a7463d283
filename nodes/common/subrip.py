"""Checking SubRip text before it is muxed or written beside a video."""

from __future__ import annotations

import re

_CUE_TIME = re.compile(r"^\s*\d+:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d+:\d{2}:\d{2}[,.]\d{1,3}", re.M)


def cue_count(text: str) -> int:
    """How many SubRip cues (``00:00:01,000 --> 00:00:02,500`` lines) the text holds."""
    return len(_CUE_TIME.findall(text or ""))


def normalized(text: str) -> str:
    """Unix newlines, no BOM, one trailing newline (what players and ffmpeg read best)."""
    body = (text or "").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return body + "\n" if body else ""
