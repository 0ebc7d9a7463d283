"""YAML and JSON loading that remembers line numbers (private to story.*).

``load_yaml`` / ``load_json`` return plain values where every mapping is a ``LineDict`` and every
list a ``LineList``: ``.line`` is where it starts and ``.lines`` where each key / item starts
(1-based), so a bad value deep in a storyboard is reported at its own line. Syntax errors raise
``DataError`` with the parser's line. PyYAML is imported lazily (module level stays stdlib-only).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner


class LineDict(dict):
    line: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict = {}


class LineList(list):
    line: int | None = None

    def __init__(self, *args):
        super().__init__(*args)
        self.lines: list = []


class DataError(Exception):
    def __init__(self, message: str, line: int | None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.fix = fix


# ---------------------------------------------------------------------------------------------
# YAML

_LOADER = None


def _yaml_loader():
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class LineLoader(yaml.SafeLoader):
        """SafeLoader whose mappings and sequences remember where their keys and items start."""

    def construct_mapping(loader, node):
        loader.flatten_mapping(node)
        out = LineDict()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise DataError("a mapping key must be a plain word", line,
                                "write keys as plain words (prompt:, camera:, …)") from None
            if key in out:
                raise DataError(f"{key!r} is given twice in the same mapping (also on line "
                                f"{out.lines[key]})", line, "keep one of them")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = line
        return out

    def construct_sequence(loader, node):
        out = LineList(loader.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.lines = [child.start_mark.line + 1 for child in node.value]
        return out

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    _LOADER = LineLoader
    return LineLoader


def load_yaml(text: str):
    import yaml
    loader = _yaml_loader()
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(filter(None, [e.context, e.problem]))
        raise DataError(f"YAML syntax: {problem}", line,
                        "check the indentation and quoting on that line or the one before it; a "
                        "value that contains ': ' (like dialogue) needs quotes: "
                        "dialogue: \"Mara: Not tonight.\"") from None
    except yaml.YAMLError as e:
        raise DataError(f"YAML syntax: {e}", None, "check the YAML syntax") from None


# ---------------------------------------------------------------------------------------------
# JSON


def _depth1_starts(s: str, open_at: int, end: int) -> list[tuple[int, str | None]]:
    """Where the keys (object) or items (array) of the container opening at ``open_at`` start.

    For an object: (position, raw key token) per key; for an array: (position, None) per item.
    """
    is_object = s[open_at] == "{"
    out: list[tuple[int, str | None]] = []
    depth = 0
    i = open_at
    expect_item = True  # right after '[' / ',' at depth 1
    while i < end:
        c = s[i]
        if c == '"':
            j = i + 1
            while j < end and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            if depth == 1 and expect_item:
                out.append((i, s[i:j + 1] if is_object else None))
                expect_item = False
            i = j + 1
            continue
        if c in "{[":
            if depth == 1 and expect_item and not is_object:
                out.append((i, None))
                expect_item = False
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            expect_item = True
        elif depth == 1 and expect_item and not is_object and not c.isspace():
            out.append((i, None))
            expect_item = False
        i += 1
    return out


def load_json(text: str):
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, start = s_and_end
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, memo)
        out = LineDict()
        out.line = line_at(start - 1)
        positions = _depth1_starts(s, start - 1, end)
        for n, (key, value) in enumerate(pairs):
            line = line_at(positions[n][0]) if n < len(positions) else out.line
            if key in out:
                raise DataError(f"{key!r} is given twice in the same object (also on line "
                                f"{out.lines[key]})", line, "keep one of them")
            out[key] = value
            out.lines[key] = line
        return out, end

    def parse_array(s_and_end, scan_once):
        s, start = s_and_end
        items, end = json.decoder.JSONArray(s_and_end, scan_once)
        out = LineList(items)
        out.line = line_at(start - 1)
        positions = _depth1_starts(s, start - 1, end)
        out.lines = [line_at(positions[n][0]) if n < len(positions) else out.line
                     for n in range(len(items))]
        return out, end

    decoder.parse_object = parse_object
    decoder.parse_array = parse_array
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as e:
        raise DataError(f"JSON syntax: {e.msg} (column {e.colno})", e.lineno,
                        "check the JSON near that line: commas between items, none after the last, "
                        "keys and texts in double quotes") from None
