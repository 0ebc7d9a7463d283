"""Storyboard scripts -> shots (private to story.*).

Three spellings of one storyboard — the hand-written text/Markdown format, YAML and JSON — are read
into a ``Board`` (title, style, character sheet, storyboard-level defaults, raw shots, each value
with the line it came from), then ``build`` checks every value and makes the ``ShotValue`` list.
Every problem is a ``ScriptError`` carrying its line; the node turns it into a NodeError.
See docs/storyboard-format.md for the format as users see it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from reelgraph.graph import ShotValue
from reelgraph.nodes.common import language
from reelgraph.nodes.common.draw import stable_int

from . import _vocab
from ._data import DataError, LineDict, LineList, load_json, load_yaml

MAX_DURATION = 600.0
SEED_LIMIT = 2 ** 31

# Keys a shot may set, keys the top of a script may set (storyboard-wide), and the union.
SHOT_KEYS = ("prompt", "duration", "camera", "transition", "narration", "dialogue", "seed",
             "caption", "characters", "style", "negative", "notes", "language", "narration_fit")
HEADER_KEYS = ("title", "style", "characters", "duration", "camera", "transition", "negative", "notes",
               "language", "narration_fit")
# How a spoken line that is longer than its shot is timed (audio.mix applies it; extend is decided
# here, before the shot is drawn, so keyframes and video get the longer duration).
FITS = ("fit", "extend", "overlap")
EXTEND_MARGIN = 0.5  # seconds past the line: a breath, and room for a crossfade into the next shot
ALL_KEYS = tuple(sorted(set(SHOT_KEYS) | set(HEADER_KEYS)))

TEXT_EXAMPLE = """## Shot 1
A lighthouse on a cliff at dusk.
duration: 4"""

YAML_EXAMPLE = """shots:
  - prompt: A lighthouse on a cliff at dusk.
    duration: 4"""

JSON_EXAMPLE = '{"shots": [{"prompt": "A lighthouse on a cliff at dusk.", "duration": 4}]}'


class ScriptError(Exception):
    """A problem in the script; ``line`` is 1-based (None when it has no single place)."""

    def __init__(self, message: str, line: int | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.fix = fix

    def text(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class Value:
    value: Any
    line: int | None


@dataclass
class RawShot:
    line: int | None
    prompt: list[str] = field(default_factory=list)
    fields: dict[str, Value] = field(default_factory=dict)
    heading: str = ""
    prose_lines: list[int] = field(default_factory=list)  # where its description is (text format)
    marker_prose: bool = False  # "Shot 3: The fox runs." — the description shares the marker's line
    last_line: int | None = None

    def set(self, key: str, value: Any, line: int | None) -> None:
        if key == "prompt":
            self.prompt.append(str(value))
            return
        if key == "notes":  # for people only: does not change the shot (so nothing re-renders)
            return
        if key in self.fields:
            raise ScriptError(f"{key} is given twice in this shot (also on line {self.fields[key].line})",
                              line, f"keep one {key}: line")
        self.fields[key] = Value(value, line)


@dataclass
class Board:
    title: str = ""
    title_line: int | None = None
    fields: dict[str, Value] = field(default_factory=dict)  # style, duration, camera, transition, negative
    characters: dict[str, Value] = field(default_factory=dict)  # name -> description
    shots: list[RawShot] = field(default_factory=list)
    example: str = TEXT_EXAMPLE

    def set_title(self, title: str, line: int | None) -> None:
        if self.title_line is not None and title:
            raise ScriptError(f"the title is given twice (also on line {self.title_line})", line,
                              "keep one title")
        self.title, self.title_line = title, line

    def add_character(self, name: str, description: Any, line: int | None) -> None:
        name = " ".join(str(name).split())
        description = " ".join(_text(description, "character description", line).split())
        if not name or not re.search(r"\w", name):
            raise ScriptError("a character needs a name", line, "write '- Name: description'")
        if not description:
            raise ScriptError(f"character {name!r} has no description", line,
                              f"write '- {name}: who they are and how they look' — the description "
                              "is repeated in every shot's prompt so the character stays the same")
        for other in self.characters:
            if other.lower() == name.lower():
                raise ScriptError(f"character {name!r} is listed twice (also on line "
                                  f"{self.characters[other].line})", line, "keep one description")
        self.characters[name] = Value(description, line)


# ---------------------------------------------------------------------------------------------
# choosing the format


def detect_format(script: str) -> str:
    """auto: JSON if it opens like a JSON object/list, YAML if it has a top-level ``shots:``, else text."""
    s = script.lstrip("\ufeff \t\r\n")
    if s.startswith("{") or re.match(r"\[\s*[{\"\]]", s):
        return "json"
    if re.search(r"^shots\s*:", script, re.M):
        return "yaml"
    return "text"


def parse(script: str, fmt: str) -> Board:
    if fmt == "auto":
        fmt = detect_format(script)
    if fmt == "text":
        return parse_text(script)
    try:
        data = load_json(script) if fmt == "json" else load_yaml(script)
    except DataError as e:
        raise ScriptError(e.message, e.line, e.fix) from None
    return parse_data(data, fmt)


# ---------------------------------------------------------------------------------------------
# the text format

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SHOT_WORD = re.compile(r"^shot\s*#?\s*(\d+)\s*(?:[:.)\-–—]\s*(.*))?$", re.I)
_RULE = re.compile(r"^(?:-{3,}|\*{3,}|_{3,}|={3,})$")
_FIELD = re.compile(r"^([A-Za-z_]+):(?:\s+(.*))?$")
_BULLET = re.compile(r"^[-*•]\s+(.*)$")
_COMMENT = re.compile(r"^(?://|<!--.*-->$)")
_NAME_COLON = re.compile(r"^[^:]{1,60}:\s")


@dataclass
class _Tok:
    kind: str  # blank, rule, head, shotline, title, field, char, prose
    line: int
    text: str = ""
    key: str = ""


def _split_character(body: str) -> tuple[str, str | None]:
    """'Mara: an old keeper' -> ('Mara', 'an old keeper'); also 'Mara — an old keeper'."""
    m = re.match(r"^([^:]{1,60}?)\s*:\s+(.*)$", body) or re.match(r"^(.{1,60}?)\s+[—–-]\s+(.*)$", body)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    return body.strip().rstrip(":"), None


def _field_key(line: str) -> tuple[str, str] | None:
    """('camera', 'push in') for a field line; None for prose. Unknown lower-case keys are errors."""
    m = _FIELD.match(line)
    if not m:
        return None
    key, value = m.group(1), (m.group(2) or "").strip()
    if key.lower() in ALL_KEYS:
        return key.lower(), value
    if key == key.lower():
        return "?" + key, value  # looks like a field but is not one: reported where it is used
    return None


def _tokens(script: str) -> list[_Tok]:
    toks: list[_Tok] = []
    lines = script.lstrip("\ufeff").splitlines()
    in_chars = False  # inside the list under "characters:"
    chars_gap = False  # a blank line inside that list: only "- Name: ..." bullets go on after it
    seen_content = False  # any prose / shot marker yet (a "# Title" must come before them)
    for i, raw in enumerate(lines):
        n = i + 1
        line = raw.rstrip()
        text = line.strip()
        indented = line[:1].isspace()
        if not text:
            toks.append(_Tok("blank", n))
            chars_gap = in_chars
            continue
        if _COMMENT.match(text):
            continue
        prev = next((t for t in reversed(toks) if t.kind != "blank"), None)
        if in_chars:
            bullet = _BULLET.match(text)
            fk = _field_key(text)
            named = (_NAME_COLON.match(text) is not None and (fk is None or fk[0].startswith("?"))
                     and not _SHOT_WORD.match(text) and not _HEADING.match(text))
            if bullet or (not chars_gap and (named or (indented and prev.kind != "char"))):
                toks.append(_Tok("char", n, bullet.group(1) if bullet else text))
                chars_gap = False
                continue
            if indented and not chars_gap and prev.kind == "char":  # the description goes on
                prev.text += " " + text
                continue
            in_chars = False
        if indented and prev is not None and prev.kind == "field" and toks[-1] is prev \
                and (_field_key(text) or ("", ""))[0] not in ALL_KEYS:
            prev.text = (prev.text + " " + text).strip()  # a field's value goes on
            continue
        if _RULE.match(text):
            toks.append(_Tok("rule", n))
            seen_content = True
            continue
        head = _HEADING.match(text)
        if head:
            level, title = len(head.group(1)), head.group(2)
            if level == 1 and not seen_content and not _SHOT_WORD.match(title) \
                    and not any(t.kind == "title" for t in toks):
                toks.append(_Tok("title", n, title))
            else:
                toks.append(_Tok("head", n, title))
                seen_content = True
            continue
        if _SHOT_WORD.match(text):  # "Shot 3", "Shot 3: The fox runs." (a line of its own)
            toks.append(_Tok("shotline", n, text))
            seen_content = True
            continue
        fk = _field_key(text)
        if fk is not None:
            key, value = fk
            toks.append(_Tok("field", n, value, key))
            in_chars, chars_gap = key == "characters" and not value, False
            continue
        bullet = _BULLET.match(text)
        toks.append(_Tok("prose", n, bullet.group(1) if bullet else text))
        seen_content = True
    return _shot_lines_under_headings(toks)


def _shot_lines_under_headings(toks: list[_Tok]) -> list[_Tok]:
    """'## Shot 1' then 'Shot 1: A lighthouse at dusk.': the writer labelled the description, not
    a new shot, so the line is read as shot 1's description. A 'Shot 2:' line right under
    '## Shot 1' leaves shot 1 empty: said here, with both lines, instead of 'no description'."""
    out: list[_Tok] = []
    for t in toks:
        prev = next((p for p in reversed(out) if p.kind != "blank"), None)
        head = _SHOT_WORD.match(prev.text) if prev is not None and prev.kind == "head" else None
        if t.kind != "shotline" or head is None:
            out.append(t)
            continue
        line = _SHOT_WORD.match(t.text)
        if int(line.group(1)) != int(head.group(1)):
            raise ScriptError(f"the heading '{prev.text}' (line {prev.line}) has nothing under it: the next line, "
                              f"'{_vocab.shorten(t.text)}', starts shot {line.group(1)} because it "
                              f"begins with 'Shot {line.group(1)}'", t.line,
                              f"if line {t.line} describes this shot, remove 'Shot {line.group(1)}:' "
                              "from its start; otherwise write this shot's description under its heading")
        if (line.group(2) or "").strip():
            out.append(_Tok("prose", t.line, line.group(2).strip()))
    return out


def _paragraphs(toks: list[_Tok]) -> list[list[_Tok]]:
    paras, cur = [], []
    for t in toks:
        if t.kind == "blank":
            if cur:
                paras.append(cur)
                cur = []
        else:
            cur.append(t)
    if cur:
        paras.append(cur)
    return paras


def _is_header(para: list[_Tok]) -> bool:
    """Only the title, storyboard-level keys and the cast (an unknown key is reported as a top key)."""
    return all(t.kind in ("title", "char") or
               (t.kind == "field" and (t.key in HEADER_KEYS or t.key.startswith("?"))) for t in para)


def _unknown_key(t: _Tok, where: str) -> ScriptError:
    key = t.key[1:]
    if key == "shots":
        return ScriptError("'shots:' is YAML, but the script is read as text", t.line,
                           "set format to yaml (or auto), or write shots as '## Shot 1' blocks")
    known = HEADER_KEYS if where == "header" else SHOT_KEYS
    return ScriptError(f"unknown key '{key}:'", t.line,
                       f"use one of {', '.join(known)}; if this line is description, start it with a "
                       "capital letter or reword it so it does not begin with 'word:'")


def _header(board: Board, toks: list[_Tok]) -> None:
    for t in toks:
        if t.kind == "title":
            board.set_title(t.text.strip(), t.line)
        elif t.kind == "char":
            name, desc = _split_character(t.text)
            if desc is None:
                raise ScriptError(f"character {name!r} has no description", t.line,
                                  f"write '- {name}: who they are and how they look' — the description "
                                  "is repeated in every shot's prompt so the character stays the same")
            board.add_character(name, desc, t.line)
        elif t.kind == "field":
            if t.key == "title":
                board.set_title(t.text, t.line)
            elif t.key == "characters":
                if t.text:
                    raise ScriptError("list the characters one per line under 'characters:'", t.line,
                                      "write 'characters:' alone, then lines like "
                                      "'- Mara: an old lighthouse keeper, grey braid'")
            elif t.key == "notes":
                pass
            else:
                if t.key in board.fields:
                    raise ScriptError(f"{t.key} is given twice at the top (also on line "
                                      f"{board.fields[t.key].line})", t.line, f"keep one {t.key}: line")
                board.fields[t.key] = Value(t.text, t.line)


def _shot(board: Board, toks: list[_Tok], start: _Tok | None) -> RawShot:
    shot = RawShot(line=start.line if start else (toks[0].line if toks else None))
    if start is not None and start.kind == "head":
        m = _SHOT_WORD.match(start.text)
        shot.heading = (m.group(2) or "").strip() if m else start.text.strip()
    elif start is not None and start.kind == "shotline":
        rest = (_SHOT_WORD.match(start.text).group(2) or "").strip()
        if rest:
            shot.prompt.append(rest)
            shot.prose_lines.append(start.line)
            shot.marker_prose = True
    shot.last_line = max([t.line for t in toks] + ([start.line] if start else [])) if toks or start else None
    names = {name.lower(): name for name in board.characters}
    cast_items: list[str] = []
    cast_line = None
    for t in toks:
        if t.kind == "prose":
            m = re.match(r"^([^:]{1,60}):\s+(.+)$", t.text)
            if m and m.group(1).strip().lower() in names:  # "Mara: Not tonight." is dialogue
                shot.set("dialogue", t.text, t.line)
            else:
                shot.prompt.append(t.text)
                shot.prose_lines.append(t.line)
        elif t.kind == "field":
            if t.key.startswith("?"):
                raise _unknown_key(t, "shot")
            if t.key == "title":
                raise ScriptError("the title belongs at the top of the script", t.line,
                                  "move it above the first shot (or write it as '# Title')")
            if t.key == "characters" and not t.text:
                cast_line = t.line
                continue
            shot.set(t.key, t.text, t.line)
        elif t.kind == "char":
            name, desc = _split_character(t.text)
            if desc is not None or cast_line is None:
                raise ScriptError("characters are described once, at the top of the script", t.line,
                                  "move this line into the 'characters:' list above the first shot; "
                                  "in a shot, write 'characters: Mara, Finn'")
            cast_items.append(name)
    if cast_line is not None:
        shot.set("characters", ", ".join(cast_items), cast_line)
    return shot


def parse_text(script: str) -> Board:
    board = Board()
    toks = _tokens(script)
    yaml_key = next((t for t in toks if t.kind == "field" and t.key == "?shots"), None)
    if yaml_key is not None:
        raise _unknown_key(yaml_key, "header")
    for i, t in enumerate(toks):  # "# Title" lines (only ever at the top) are taken out here
        if t.kind == "title":
            board.set_title(t.text.strip(), t.line)
            toks[i] = _Tok("blank", t.line)
    marker_kinds = ("rule", "head", "shotline")
    has_markers = any(t.kind in marker_kinds for t in toks)

    # Split into segments: (marker or None, tokens). Without markers every paragraph is a segment.
    segments: list[tuple[_Tok | None, list[_Tok]]] = [(None, [])]
    for t in toks:
        if t.kind in marker_kinds:
            segments.append((t, []))
        else:
            segments[-1][1].append(t)

    # The top: leading paragraphs that only hold the title, storyboard fields and the cast.
    first = _paragraphs(segments[0][1])
    n_header = 0
    while n_header < len(first) and _is_header(first[n_header]):
        n_header += 1
    head_toks = [t for p in first[:n_header] for t in p]
    if n_header < len(first):  # a title or cast list run straight into the first shot's text
        para = first[n_header]
        k = 0
        while k < len(para) and (para[k].kind == "char" or para[k].kind == "field" and (
                para[k].key == "title" or para[k].key == "characters" and not para[k].text)):
            k += 1
        head_toks += para[:k]
        first = first[:n_header] + ([para[k:]] if para[k:] else []) + first[n_header + 1:]
    for t in head_toks:
        if t.kind == "field" and t.key.startswith("?"):
            raise _unknown_key(t, "header")
    _header(board, head_toks)
    rest = first[n_header:]

    if not has_markers:
        for para in rest:
            if any(t.kind == "prose" for t in para) or not board.shots:
                board.shots.append(_shot(board, para, None))
            else:  # a paragraph of fields only continues the shot above it
                extra = _shot(board, para, None)
                target = board.shots[-1]
                target.prompt += extra.prompt
                for key, v in extra.fields.items():
                    target.set(key, v.value, v.line)
        return board

    if rest:
        implicit = [t for p in rest for t in p]
        nxt = segments[1][0]
        if nxt.kind != "rule":
            bad = next((t for t in implicit if t.kind == "prose"), implicit[0])
            raise ScriptError("text before the first shot heading", bad.line,
                              f"put it under a heading such as '## Shot 1' (line {nxt.line} starts the "
                              "next shot), or turn it into a comment by starting the line with //")
        board.shots.append(_shot(board, implicit, None))
    for marker, seg in segments[1:]:
        body = [t for t in seg if t.kind != "blank"]
        if marker.kind == "rule" and not body:
            continue  # "---" right before a heading, or at the end
        board.shots.append(_shot(board, body, marker if marker.kind != "rule" else None))
    return board


# ---------------------------------------------------------------------------------------------
# YAML / JSON


def _line(container, key) -> int | None:
    if isinstance(container, LineDict):
        return container.lines.get(key, container.line)
    if isinstance(container, LineList) and isinstance(key, int) and key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", None)


def parse_data(data: Any, fmt: str) -> Board:
    board = Board(example=YAML_EXAMPLE if fmt == "yaml" else JSON_EXAMPLE)
    what = "YAML" if fmt == "yaml" else "JSON"
    if data is None:
        return board  # empty: reported as "no shots"
    if isinstance(data, list):
        data_map, shots = None, data
    elif isinstance(data, dict):
        data_map = data
        for key in data:
            if key not in HEADER_KEYS and key != "shots":
                raise ScriptError(f"unknown top-level key {key!r}", _line(data, key),
                                  f"use shots, {', '.join(HEADER_KEYS)}")
        if "shots" not in data:
            raise ScriptError(f"the {what} storyboard has no 'shots' list", getattr(data, "line", None),
                              "add a shots list, e.g.:\n" + board.example)
        shots = data["shots"]
        if shots is None:
            shots = []
        if not isinstance(shots, list):
            raise ScriptError("'shots' must be a list of shots", _line(data, "shots"),
                              "write each shot as a list item:\n" + YAML_EXAMPLE)
    else:
        raise ScriptError(f"a {what} storyboard must be a mapping with a 'shots' list, got "
                          f"{type(data).__name__}", 1, "write it like:\n" + board.example +
                          "\n(or set format to text for the hand-written format)")

    if data_map is not None:
        if "title" in data_map:
            board.set_title(_text(data_map["title"], "title", _line(data_map, "title")).strip(),
                            _line(data_map, "title"))
        for key in ("style", "duration", "camera", "transition", "negative", "language", "narration_fit"):
            if key in data_map and data_map[key] is not None:
                board.fields[key] = Value(data_map[key], _line(data_map, key))
        cast = data_map.get("characters")
        cast_line = _line(data_map, "characters")
        if isinstance(cast, dict):
            for name, desc in cast.items():
                board.add_character(name, desc, _line(cast, name))
        elif isinstance(cast, list):
            for i, item in enumerate(cast):
                line = _line(cast, i)
                if isinstance(item, dict) and "name" in item:
                    board.add_character(item["name"], item.get("description", ""), line)
                elif isinstance(item, dict) and len(item) == 1:
                    (name, desc), = item.items()
                    board.add_character(name, desc, line)
                elif isinstance(item, str):
                    name, desc = _split_character(item)
                    board.add_character(name, desc or "", line)
                else:
                    raise ScriptError("a character must be 'Name: description'", line,
                                      "write characters as a mapping — characters: {Mara: an old keeper}")
        elif cast is not None:
            raise ScriptError("'characters' must map each name to a description", cast_line,
                              "write characters:\\n  Mara: an old lighthouse keeper, grey braid")

    for i, item in enumerate(shots):
        line = _line(shots, i)
        if isinstance(item, str):
            board.shots.append(RawShot(line=line, prompt=[item]))
            continue
        if not isinstance(item, dict):
            raise ScriptError(f"shot {i + 1} must be a mapping with a prompt (or just the prompt text)",
                              line, "write it like:\n" + YAML_EXAMPLE)
        shot = RawShot(line=line)
        for key, value in item.items():
            kline = _line(item, key)
            if key not in SHOT_KEYS:
                raise ScriptError(f"unknown key {key!r} in shot {i + 1}", kline,
                                  f"use one of {', '.join(SHOT_KEYS)}")
            if value is None:
                continue
            if key == "characters" and isinstance(value, list):
                value = ", ".join(_text(v, "character name", kline) for v in value)
            if key == "dialogue" and isinstance(value, dict) and len(value) == 1:
                (speaker, said), = value.items()
                value = f"{speaker}: {_text(said, 'dialogue', kline)}"
            if key == "prompt":
                value = _text(value, "prompt", kline)
            shot.set(key, value, kline)
        board.shots.append(shot)
    return board


# ---------------------------------------------------------------------------------------------
# values


def _text(value: Any, what: str, line: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
    raise ScriptError(f"{what} must be text, got {kind}", line,
                      f"write {what} as plain text (quote it in YAML)")


_DURATION = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|secs?|seconds?|m|mins?|minutes?)?\.?$",
                       re.I)


def parse_duration(value: Any, line: int | None, where: str) -> float:
    """'5', '5s', '5.5 sec', '500ms', '1:30', 5 -> seconds (> 0, at most 600)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScriptError(f"duration{where} must be a number of seconds", line,
                          "write it like 'duration: 5' or 'duration: 2.5s'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip()
        m = _DURATION.match(text)
        mm = re.match(r"^(\d+):(\d{1,2}(?:\.\d+)?)$", text)
        if m:
            seconds = float(m.group(1))
            unit = (m.group(2) or "s").lower()
            if unit == "ms":
                seconds /= 1000.0
            elif unit.startswith("m"):
                seconds *= 60.0
        elif mm:
            seconds = int(mm.group(1)) * 60 + float(mm.group(2))
        else:
            raise ScriptError(f"duration{where} {text!r} is not a number of seconds", line,
                              "write it like 'duration: 5', '5s', '2.5 sec' or '1:30'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ScriptError(f"duration{where} must be more than 0 seconds, got {value}", line,
                          "give the shot a positive length such as 'duration: 3'")
    if seconds > MAX_DURATION:
        raise ScriptError(f"duration {seconds:g} s{where} is over the {MAX_DURATION:g} s limit of one shot",
                          line, "split it into several shots")
    return seconds


def parse_camera(value: Any, line: int | None, where: str) -> str:
    text = _text(value, "camera", line).strip()
    found = _vocab.camera(text) if text else None
    if found is None:
        if not text:
            raise ScriptError(f"camera{where} is empty", line, _vocab.camera_help())
        raise ScriptError(f"unknown camera '{text}'{where}{_vocab.suggestion(text, 'camera')}", line,
                          _vocab.camera_help())
    return found


def parse_transition(value: Any, line: int | None, where: str) -> str:
    text = _text(value, "transition", line).strip()
    found = _vocab.transition(text) if text else None
    if found is None:
        if not text:
            raise ScriptError(f"transition{where} is empty", line, _vocab.transition_help())
        raise ScriptError(f"unknown transition '{text}'{where}{_vocab.suggestion(text, 'transition')}",
                          line, _vocab.transition_help())
    return found


def parse_seed(value: Any, line: int | None, where: str) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise ScriptError(f"seed{where} must be a whole number from 0 to {SEED_LIMIT - 1}", line,
                          "write it like 'seed: 7', or leave it out for a stable seed per shot")
    return value


def _mentions(text: str, name: str) -> bool:
    words = r"\s+".join(re.escape(w) for w in name.split())
    return re.search(rf"(?<!\w){words}(?!\w)", text, re.I) is not None


def _dialogue(value: Any, line: int | None, where: str, board: Board) -> tuple[str, str]:
    text = " ".join(_text(value, "dialogue", line).split())
    m = re.match(r"^([^:]{1,60}?)\s*:\s*(.*)$", text)
    if not m or not m.group(2).strip() or not re.search(r"\w", m.group(1)):
        raise ScriptError(f"dialogue{where} needs a speaker: 'Name: line'", line,
                          "write it like 'dialogue: Mara: Not tonight, storm.' — or use 'narration:' "
                          "for a voice that belongs to no one on screen")
    speaker, said = m.group(1).strip(), m.group(2).strip()
    for name in board.characters:
        if name.lower() == speaker.lower():
            speaker = name
    if len(said) >= 2 and said[0] + said[-1] in ('""', "''", "“”", "‘’"):
        said = said[1:-1].strip()
    return speaker, said


@dataclass
class Defaults:
    duration: float = 4.0
    camera: str = "static"
    transition: str = "cut"
    seed: int = 0


def build(board: Board, defaults: Defaults) -> tuple[list[ShotValue], str, float, list[str]]:
    """The checked shots, the title, the total duration and warnings."""
    if not board.shots:
        raise ScriptError("the storyboard has no shots", None,
                          "write at least one shot, for example:\n" + board.example)
    warnings: list[str] = []
    bf = board.fields
    duration = (parse_duration(bf["duration"].value, bf["duration"].line, " at the top")
                if "duration" in bf else defaults.duration)
    camera = (parse_camera(bf["camera"].value, bf["camera"].line, " at the top")
              if "camera" in bf else defaults.camera)
    transition = (parse_transition(bf["transition"].value, bf["transition"].line, " at the top")
                  if "transition" in bf else defaults.transition)
    style = " ".join(_text(bf["style"].value, "style", bf["style"].line).split()) if "style" in bf else ""
    negative = (" ".join(_text(bf["negative"].value, "negative", bf["negative"].line).split())
                if "negative" in bf else "")
    board_language = parse_language(bf["language"], " at the top") if "language" in bf else ""
    board_fit = parse_fit(bf["narration_fit"], " at the top") if "narration_fit" in bf else ""

    shots: list[ShotValue] = []
    for index, raw in enumerate(board.shots):
        number = index + 1
        where = f" in shot {number}"
        f = raw.fields
        prompt = " ".join(" ".join(raw.prompt).split())
        if not prompt:
            raise ScriptError(f"shot {number} has no description", raw.line,
                              "write what the camera sees on a line of its own, e.g. "
                              "'Mara climbs the spiral stairs, lantern in hand.'")
        shot_duration = parse_duration(f["duration"].value, f["duration"].line, where) \
            if "duration" in f else duration
        shot_camera = parse_camera(f["camera"].value, f["camera"].line, where) if "camera" in f else camera
        shot_transition = (parse_transition(f["transition"].value, f["transition"].line, where)
                           if "transition" in f else transition)
        if index == 0 and "transition" in f and shot_transition != "cut":
            warnings.append(f"line {f['transition'].line}: shot 1's transition ({shot_transition}) is "
                            "ignored: a transition is how a shot begins from the one before it")
        seed = (parse_seed(f["seed"].value, f["seed"].line, where) if "seed" in f
                else stable_int("story.shot", defaults.seed, number) % SEED_LIMIT)

        extra: dict[str, Any] = {}
        narration = " ".join(_text(f["narration"].value, "narration", f["narration"].line).split()) \
            if "narration" in f else ""
        spoken_by = ""
        said = ""
        if "dialogue" in f:
            if narration:
                later = max(f["dialogue"].line or 0, f["narration"].line or 0) or None
                raise ScriptError(f"shot {number} has both narration and dialogue", later,
                                  "a shot carries one spoken line: keep one, or split the shot in two")
            spoken_by, said = _dialogue(f["dialogue"].value, f["dialogue"].line, where, board)
            narration = said
            extra["speaker"] = spoken_by

        if "characters" in f:
            cast = _cast(f["characters"], board, where)
        else:
            seen_in = f"{prompt}\n{spoken_by}\n{said}"
            cast = [name for name in board.characters if _mentions(seen_in, name)]

        shot_style = style
        if "style" in f:
            own = " ".join(_text(f["style"].value, "style", f["style"].line).split())
            shot_style = ", ".join(s for s in (style, own) if s)
        shot_negative = negative
        if "negative" in f:
            own = " ".join(_text(f["negative"].value, "negative", f["negative"].line).split())
            shot_negative = ", ".join(s for s in (negative, own) if s)
        if "caption" in f:
            label = _vocab.shorten(_text(f["caption"].value, "caption", f["caption"].line))
        else:
            label = _vocab.shorten(raw.heading) if raw.heading else _vocab.caption(prompt)

        shot_language = parse_language(f["language"], where) if "language" in f else board_language
        shot_fit = parse_fit(f["narration_fit"], where) if "narration_fit" in f else board_fit
        if shot_language:  # only when given: shots of storyboards without it stay as they were
            extra["language"] = shot_language
        if shot_fit:
            extra["narration_fit"] = shot_fit
        if shot_fit == "extend" and narration:
            shot_duration = _extended(shot_duration, narration, shot_language)

        extra["caption"] = label
        extra["title"] = board.title
        extra["character_sheet"] = {name: board.characters[name].value for name in cast}
        if shot_negative:
            extra["negative"] = shot_negative
        shots.append(ShotValue(index=index, prompt=prompt, duration=shot_duration, camera=shot_camera,
                               transition=shot_transition, narration=narration, seed=seed,
                               characters=tuple(cast), style=shot_style, extra=extra))
    total = round(sum(s.duration for s in shots), 6)
    return shots, board.title, total, warnings


def parse_language(value: Value, where: str) -> str:
    """'zh', 'Mandarin', 'Cantonese', 'ja'... -> the language code the voice nodes take."""
    text = _text(value.value, "language", value.line).strip()
    code = language.normalize(text)
    if code is None or not text:  # "auto" is allowed: the voice tells the language from the text
        raise ScriptError(f"language{where} {text!r} is not a language" if text else
                          f"language{where} is empty", value.line,
                          "write a code or name such as zh (Mandarin), yue (Cantonese), ja, ko, ru, fr, "
                          "de, es, en — or leave it out to tell each line's language from its text")
    return code


def parse_fit(value: Value, where: str) -> str:
    text = "_".join(_text(value.value, "narration_fit", value.line).lower().split())
    if text not in FITS:
        raise ScriptError(f"narration_fit{where} {text!r} is not one of {', '.join(FITS)}", value.line,
                          "fit: the voice speeds up (a little) to end with the shot; extend: the shot "
                          "is lengthened to hold the line; overlap: the line runs on into the next "
                          "shot when that shot has no narration of its own")
    return text


def _extended(duration: float, narration: str, code: str) -> float:
    """The shot's duration, lengthened (never shortened) to hold its line: the draft voice's
    measured length plus a margin, rounded up to a tenth of a second."""
    code = code or language.detect(narration)
    need = language.speech_seconds(narration, code) + EXTEND_MARGIN
    return min(MAX_DURATION, max(duration, math.ceil(need * 10 - 1e-9) / 10))


def _cast(value: Value, board: Board, where: str) -> list[str]:
    text = _text(value.value, "characters", value.line).strip()
    if text.lower() in ("", "none", "nobody", "-"):
        return []
    names = [n.strip() for n in re.split(r",|;|\band\b|&", text) if n.strip()]
    by_lower = {name.lower(): name for name in board.characters}
    picked = []
    for name in names:
        canonical = by_lower.get(" ".join(name.split()).lower())
        if canonical is None:
            known = ", ".join(board.characters) or "none yet"
            raise ScriptError(f"character {name!r}{where} is not in the character sheet", value.line,
                              f"add '- {name}: description' under 'characters:' at the top "
                              f"(listed: {known}), or write 'characters: none'")
        if canonical not in picked:
            picked.append(canonical)
    order = list(board.characters)
    return sorted(picked, key=order.index)


# ---------------------------------------------------------------------------------------------
# editing one shot in place (the editor's storyboard view)

EDITABLE_KEYS = ("prompt", "duration", "camera", "transition", "narration", "dialogue", "seed")


def edit_shot(script: str, number: int, key: str, value: Any) -> str:
    """The script with one field of shot ``number`` (1-based) set to ``value`` — the rest of the
    text (other shots, notes, comments, blank lines) exactly as written. An empty value removes a
    field. Only the text format is edited this way; the result is parsed before it is returned."""
    if key not in EDITABLE_KEYS:
        raise ScriptError(f"'{key}' cannot be edited from the storyboard view", None,
                          f"edit one of {', '.join(EDITABLE_KEYS)}, or edit the script in its node")
    if detect_format(script) != "text":
        raise ScriptError("a JSON or YAML storyboard is edited in its node's script", None,
                          "edit the script in the node (the storyboard view edits text scripts)")
    text = script.lstrip("\ufeff")
    board = parse_text(text)
    if not isinstance(number, int) or not 1 <= number <= len(board.shots):
        raise ScriptError(f"there is no shot {number} (the storyboard has {len(board.shots)})")
    shot = board.shots[number - 1]
    value = " ".join(str(value if value is not None else "").split())  # one line
    lines = text.split("\n")
    if key == "prompt":
        if not value:
            raise ScriptError(f"shot {number} needs a description", None, "write what the shot shows")
        if shot.prose_lines:
            first, *others = shot.prose_lines
            lines[first - 1] = (f"Shot {number}: {value}" if shot.marker_prose and first == shot.prose_lines[0]
                                else value)
            for n in sorted(others, reverse=True):
                del lines[n - 1]
        else:
            lines.insert(shot.line or 0, value)  # under its heading
    else:
        old = shot.fields.get(key)
        if old is not None and old.line:
            if value:
                lines[old.line - 1] = f"{key}: {value}"
            else:
                del lines[old.line - 1]
        elif value:
            lines.insert(shot.last_line or len(lines), f"{key}: {value}")
    out = "\n".join(lines)
    build(parse_text(out), Defaults())  # a value the node would refuse is refused here, with its fix
    return out
