"""Shared story vocabulary (private to story.*): camera moves, transitions, their aliases, captions."""

from __future__ import annotations

import difflib
import re

CAMERAS = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down",
           "orbit_left", "orbit_right")
TRANSITIONS = ("cut", "crossfade", "fade_black")

# Friendly spellings, written as a person would type them; matched after lower-casing and turning
# spaces and hyphens into "_".
_CAMERA_ALIASES = {
    "static": ("static", "still", "locked", "locked off", "lock off", "fixed", "hold", "none",
               "no move", "no movement", "tripod", "固定镜头", "固定", "静止镜头", "静止"),
    "push_in": ("push in", "push", "dolly in", "zoom in", "move in", "track in", "creep in", "zoom", "推镜头", "推近",
                "推进", "推", "镜头推近", "拉近"),
    "pull_out": ("pull out", "pull back", "pull", "dolly out", "dolly back", "zoom out", "move out",
                 "track out", "back out", "拉镜头", "拉远", "拉出", "拉", "镜头拉远"),
    "pan_left": ("pan left", "truck left", "track left", "左摇", "向左摇", "向左平移", "左移"),
    "pan_right": ("pan right", "truck right", "track right", "右摇", "向右摇", "向右平移", "右移"),
    "tilt_up": ("tilt up", "crane up", "pedestal up", "boom up", "上摇", "向上摇", "镜头上摇", "升镜头"),
    "tilt_down": ("tilt down", "crane down", "pedestal down", "boom down", "下摇", "向下摇", "镜头下摇", "降镜头"),
    "orbit_left": ("orbit left", "arc left", "circle left", "向左环绕", "左环绕"),
    "orbit_right": ("orbit right", "arc right", "circle right", "向右环绕", "右环绕", "环绕"),
}
_TRANSITION_ALIASES = {
    "cut": ("cut", "hard cut", "straight cut", "none", "切", "硬切", "直切", "切换"),
    "crossfade": ("crossfade", "cross fade", "dissolve", "cross dissolve", "mix", "blend", "叠化", "溶解", "交叉淡化",
                  "淡入淡出"),
    "fade_black": ("fade black", "fade", "fade to black", "fade through black", "dip to black",
                   "black", "淡出", "黑场", "渐黑", "淡出到黑", "淡入黑场"),
}
# Adverbs people put before a move ("slow push in"): they do not change which move it is.
_MANNER = re.compile(r"^(?:(?:very|slow|slowly|gentle|gently|quick|quickly|fast|subtle|smooth|"
                     r"smoothly|soft|softly|steady|a|the)_)+")


def _norm(value: str) -> str:
    text = re.sub(r"[\s\-]+", "_", value.strip().lower()).strip("_.!,;")
    return _MANNER.sub("", text)


def _table(aliases: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table = {}
    for canonical, names in aliases.items():
        table[canonical] = canonical
        for name in names:
            table[_norm(name)] = canonical
    return table


_CAMERA_TABLE = _table(_CAMERA_ALIASES)
_TRANSITION_TABLE = _table(_TRANSITION_ALIASES)


def camera(value: str) -> str | None:
    """The canonical camera move for a friendly spelling ("dolly in" -> "push_in"), else None."""
    return _CAMERA_TABLE.get(_norm(value))


def transition(value: str) -> str | None:
    """The canonical transition for a friendly spelling ("dissolve" -> "crossfade"), else None."""
    return _TRANSITION_TABLE.get(_norm(value))


def suggestion(value: str, kind: str) -> str:
    """' (did you mean pan_left?)' for a near miss, else ''."""
    table = _CAMERA_TABLE if kind == "camera" else _TRANSITION_TABLE
    close = difflib.get_close_matches(_norm(value), list(table), n=1, cutoff=0.75)
    return f" (did you mean {table[close[0]]}?)" if close else ""


def camera_help() -> str:
    return ("use one of " + ", ".join(CAMERAS) +
            " (friendly spellings work too: push in, dolly in, zoom in, pull back, zoom out, pan left, "
            "tilt up, arc right, locked off…)")


def transition_help() -> str:
    return ("use one of " + ", ".join(TRANSITIONS) +
            " (friendly spellings work too: dissolve, cross fade, fade, fade to black, dip to black, "
            "hard cut)")


# Chinese camera terms specific enough to find inside a sentence ("推进" and "拉" are everyday words)
_CAMERA_IN_PROSE_ZH = {"固定镜头", "推镜头", "镜头推近", "拉镜头", "镜头拉远", "向左摇", "向右摇", "向上摇", "向下摇",
                       "镜头上摇", "镜头下摇", "向左环绕", "向右环绕", "环绕"}


def camera_in_text(text: str) -> str | None:
    """A camera move named in free text ("...slow dolly in on her face"), else None."""
    low = " " + re.sub(r"[\s\-]+", " ", text.lower()) + " "
    best = None
    for canonical, names in _CAMERA_ALIASES.items():
        for name in (canonical.replace("_", " "), *names):
            if name in _CAMERA_IN_PROSE_ZH:
                pos = low.find(name)  # Chinese runs words together: no spaces to look for
            elif " " not in name or canonical == "static" and name not in ("locked off", "static"):
                continue  # single words (push, zoom, hold...) are too common in prose
            else:
                pos = low.find(" " + name + " ")
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, canonical)
    return best[1] if best else None


CAPTION_LIMIT = 48
_DANGLING = {"a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "into", "onto",
             "through", "over", "under", "and", "or", "but", "as", "is", "its", "his", "her", "their"}


def shorten(text: str, limit: int = CAPTION_LIMIT) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    words = text[:limit].split(" ")[:-1] or [text[:limit - 1]]  # the last word may be cut: drop it
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()  # "…splashing through a…" reads badly: end on a content word
    return " ".join(words).rstrip(" ,;:.-—–") + "…"


def caption(prompt: str, limit: int = CAPTION_LIMIT) -> str:
    """A short label for a shot: the first clause of its prompt, at most ``limit`` characters."""
    text = " ".join(prompt.split())
    first = re.split(r"(?<=\S)[.;:!?](?=\s|$)|,\s|\s[—–-]\s|\s[(]", text, maxsplit=1)[0]
    first = first.strip().rstrip(".,;:!?")
    return shorten(first or text, limit)
