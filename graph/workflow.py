"""The workflow JSON format: one canonical, versioned format for the canvas, the CLI and the API.

::

    {
      "schema": "reelgraph/workflow", "version": 1,
      "name": "...", "description": "...",
      "nodes": {
        "title": {"type": "text.constant", "version": "1.0.0",
                  "params": {"text": "A fox at dawn"}, "position": [0, 0]}
      },
      "edges": [{"from": "title.text", "to": "caption.a"}],
      "meta": {}
    }

Nodes are keyed by id; params are named (never positional); ``position`` and ``meta`` are layout
and free-form data the engine ignores. Older format versions are migrated on load (``MIGRATIONS``);
a node saved by an older version of its class has its params upgraded by ``Node.upgrade_params``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import struct
from pathlib import Path
from typing import Annotated, Any, Callable, Final, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError

from . import provenance
from .errors import Issue, WorkflowError

SCHEMA_NAME: Final = "reelgraph/workflow"
FORMAT_VERSION: Final = 1
MAX_DEPTH = 64
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
PORT_REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*\.[a-z][a-z0-9_]*$"

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN, max_length=128)]


class NodeEntry(BaseModel):
    """One node of a workflow: its type, the version it was saved with, named params, layout."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Node type id, domain.verb_noun (see `reelgraph nodes`).")
    version: str | None = Field(None, description="Version of the node type the params were written for.")
    params: dict[str, Any] = Field(default_factory=dict, description="Param values by name.")
    title: str | None = Field(None, description="Display title on the canvas.")
    position: tuple[float, float] | None = Field(None, description="Canvas position [x, y].")
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form data for editors.")
    # None, not False, when off: a workflow that never bypasses is saved exactly as before
    bypass: bool | None = Field(None, description="Left out of runs: each output passes on what is wired "
                                                  "into the node's input of the same type.")


class Edge(BaseModel):
    """A wire from one node's output to another node's input or param."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", pattern=PORT_REF_PATTERN, description="node.output")
    target: str = Field(alias="to", pattern=PORT_REF_PATTERN, description="node.input")

    @property
    def source_node(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def source_port(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def target_node(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def target_port(self) -> str:
        return self.target.split(".", 1)[1]


class Workflow(BaseModel):
    """A reelgraph workflow (format version 1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"$id": "https://reelgraph.dev/schema/workflow-1.json"})

    schema_: Literal["reelgraph/workflow"] = Field(SCHEMA_NAME, alias="schema")
    version: Literal[1] = FORMAT_VERSION
    name: str = ""
    description: str = ""
    nodes: dict[NodeId, NodeEntry] = Field(default_factory=dict)
    edges: list[Edge] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form data for editors.")

    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str | None:
        """The file this workflow was loaded from, if any (its folder is the run's workspace)."""
        return self._source

    def to_dict(self) -> dict:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"

    def copy_with(self, **changes) -> "Workflow":
        new = self.model_copy(update=changes, deep=True)
        new._source = self._source
        return new


# ----------------------------------------------------------------------------------------------
# Migrations of older format versions. Each takes the raw dict of version N and returns version N+1.

def _v0_to_v1(raw: dict) -> dict:
    """Format 0 (the pre-release prototype): nodes as a list with ``id``, params under ``widgets``,
    layout under ``pos`` and edges as ``[src, src_port, dst, dst_port]`` lists."""
    nodes = {}
    for entry in raw.get("nodes", []):
        entry = dict(entry)
        node_id = entry.pop("id")
        new = {"type": entry.pop("type"), "params": entry.pop("widgets", {})}
        if "pos" in entry:
            new["position"] = entry.pop("pos")
        if "version" in entry:
            new["version"] = entry.pop("version")
        nodes[node_id] = new
    edges = [{"from": f"{a}.{ap}", "to": f"{b}.{bp}"} for a, ap, b, bp in raw.get("links", [])]
    return {"schema": SCHEMA_NAME, "version": 1, "name": raw.get("name", ""), "nodes": nodes,
            "edges": edges}


MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _v0_to_v1}


def migrate(raw: dict) -> dict:
    """Bring a raw workflow dict of any known format version up to ``FORMAT_VERSION``."""
    version = raw.get("version")
    if version is None:
        version = 0 if isinstance(raw.get("nodes"), list) else FORMAT_VERSION
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowError(Issue(f"format version {version!r} is not a whole number", field="version",
                                  fix=f"set \"version\": {FORMAT_VERSION}"))
    if version > FORMAT_VERSION:
        raise WorkflowError(Issue(f"this workflow is format version {version}, newer than this "
                                  f"reelgraph understands ({FORMAT_VERSION})", field="version",
                                  fix="upgrade reelgraph (pip install -U reelgraph)"))
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise WorkflowError(Issue(f"no migration from format version {version}", field="version",
                                      fix="re-save the workflow with an older reelgraph first"))
        try:
            raw = step(copy.deepcopy(raw))
        except Exception as e:  # a malformed old file must be reported, not crash the loader
            raise WorkflowError(Issue(f"cannot migrate this format version {version} workflow: "
                                      f"{type(e).__name__}: {e}", field="version",
                                      fix=f"the file looks like format version {version} but is "
                                          "malformed: fix it or re-create it in the editor",
                                      code="schema")) from None
        version = raw["version"]
    return raw


# ----------------------------------------------------------------------------------------------
# Loading and saving

def loads(text: str, source: str | None = None) -> Workflow:
    """Parse workflow JSON text. Malformed JSON is reported with its line and column."""
    if len(text) > provenance.MAX_WORKFLOW_BYTES:
        raise WorkflowError(_too_large("the workflow text"), source=source)
    if _deeper_than(text, MAX_DEPTH):  # before parsing: the parser itself recurses per level
        raise WorkflowError(_too_deep(), source=source)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise WorkflowError(Issue(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                                  fix="fix the JSON syntax there", code="json"), source=source) from None
    except ValueError as e:  # e.g. an integer over the digit limit
        raise WorkflowError(Issue(f"cannot read the JSON: {type(e).__name__}: {e}",
                                  fix="fix the value there", code="json"), source=source) from None
    return from_dict(raw, source=source)


def from_dict(raw: Any, source: str | None = None) -> Workflow:
    """Build a ``Workflow`` from a parsed dict, migrating old versions; errors list every problem."""
    if not isinstance(raw, dict):
        raise WorkflowError(Issue(f"a workflow is a JSON object, got {type(raw).__name__}",
                                  fix='start from {"schema": "reelgraph/workflow", "version": 1, '
                                      '"nodes": {}, "edges": []}', code="schema"), source=source)
    unusable = _unusable_value(raw)
    if unusable is not None:
        raise WorkflowError(unusable, source=source)
    try:
        raw = migrate(raw)
    except WorkflowError as e:
        raise WorkflowError(e.issues, source=source) from None
    try:
        wf = Workflow.model_validate(raw)
    except ValidationError as e:
        raise WorkflowError([_issue_from_pydantic(err, raw) for err in e.errors()], source=source) from None
    wf._source = source
    return wf


def load(path: str | os.PathLike) -> Workflow:
    """Read a workflow file, or the workflow embedded in a PNG/MP4/WebM that reelgraph made."""
    p = Path(path)
    try:
        f = provenance.open_regular(p)
    except FileNotFoundError:
        raise WorkflowError(Issue(f"no such file: {p}", fix="check the path", code="file")) from None
    except provenance.NotARegularFile as e:
        raise WorkflowError(Issue(f"cannot read {p}: it is {e.kind}, not a regular file",
                                  fix="give a workflow .json file, or a PNG/MP4/WebM that reelgraph saved",
                                  code="file")) from None
    except (OSError, ValueError) as e:
        if "\0" in str(p):
            raise WorkflowError(Issue(f"cannot read {str(p)!r}: the path holds a NUL byte, which no file "
                                      "name can", fix="remove it from the path", code="file")) from None
        why = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise WorkflowError(Issue(f"cannot read {p}: {why}", fix="check the path and the file's permissions",
                                  code="file")) from None
    with f:
        if provenance.is_media(p, f.read(12)):
            try:
                text = provenance.read_embedded(p, f)
            except (OSError, ValueError, struct.error) as e:
                raise WorkflowError(Issue(f"cannot read {p}: {e}", fix="give a PNG or MP4 that reelgraph saved",
                                          code="file")) from None
            if text is None:
                raise WorkflowError(Issue(f"{p.name} has no reelgraph workflow embedded in it",
                                          fix="give a PNG or MP4 written by io.save_image / io.save_video "
                                              "(other tools drop the workflow when they re-encode)",
                                          code="file")) from None
            return loads(text, source=str(p))
        f.seek(0)
        data = f.read(provenance.MAX_WORKFLOW_BYTES + 1)
    if len(data) > provenance.MAX_WORKFLOW_BYTES:
        raise WorkflowError(_too_large(p.name), source=str(p))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WorkflowError(Issue(f"cannot read {p}: {e}", fix="give the path of a UTF-8 JSON workflow file",
                                  code="file")) from None
    return loads(text, source=str(p))


# ----------------------------------------------------------------------------------------------
# Bounds on what a workflow may hold: it comes from files anyone can hand over, and everything
# after loading (validation, hashing, saving) walks it recursively or encodes it as UTF-8.

def _too_large(what: str) -> Issue:
    mib = provenance.MAX_WORKFLOW_BYTES >> 20
    return Issue(f"{what} is larger than {mib} MiB, so not a reelgraph workflow",
                 fix="give a workflow .json file (workflows are a few KB; keep long texts and media in "
                     "files the workflow names)", code="file")


def _too_deep(node: str | None = None, field: str | None = None) -> Issue:
    where = "" if node or field else "the JSON is "
    return Issue(f"{where}nested more than {MAX_DEPTH} levels deep", node=node, field=field,
                 fix="flatten it: a workflow needs a few levels (nodes, params, values)", code="json")


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKETS = str.maketrans("[]{}", "()()")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _deeper_than(text: str, limit: int) -> bool:
    """Whether JSON text nests more than ``limit`` levels: strings are blanked, then each pass drops
    the innermost bracket pairs (string operations: fast on megabytes, no recursion)."""
    s = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_BRACKETS)
    if "(" * (limit + 1) in s:  # the usual attack, a plain run of openers: no passes needed
        return True
    for _ in range(limit):
        shorter = s.replace("()", "")
        if len(shorter) == len(s):
            return False
        s = shorter
    return "()" in s


def _unusable_value(raw: Any) -> Issue | None:
    """The first value nested too deep or holding a lone UTF-16 surrogate (JSON's ``\\ud800``, which
    no UTF-8 file or terminal can take), walked without recursion; None when all is well."""
    stack: list[tuple[Any, tuple]] = [(raw, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            m = _SURROGATE.search(value)
            if m:
                return _surrogate(path, m.group())
        elif isinstance(value, (dict, list, tuple)):
            if len(path) >= MAX_DEPTH:
                return _too_deep(*_where(path))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                bad = _SURROGATE.search(key) if isinstance(key, str) else None
                if bad:
                    return _surrogate(path + (key,), bad.group())
                stack.append((item, path + (key,)))
    return None


def _surrogate(path: tuple, char: str) -> Issue:
    escape = f"\\u{ord(char):04x}"
    node, field = _where(path)
    return Issue(f"holds a lone surrogate ({escape}), half of a UTF-16 pair, which is not a character",
                 node=node, field=field, code="json",
                 fix=f"remove the {escape} escape, or write the whole character (a pair such as \\ud83e\\udd8a)")


def _where(path: tuple) -> tuple[str | None, str | None]:
    """(node id, field) of a path into the raw workflow, printable whatever its keys hold."""
    def show(part) -> str:
        text = f"[{part}]" if isinstance(part, int) else str(part)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    parts = [show(p) for p in path]
    node = None
    if len(parts) >= 2 and path[0] == "nodes":
        node, parts = parts[1], parts[2:]
    if len(parts) > 8:
        parts = parts[:8] + ["…"]
    return node, ".".join(parts).replace(".[", "[") or None


def save(wf: Workflow, path: str | os.PathLike) -> None:
    """Write a workflow file atomically (a crash never leaves half a file); a symlink is written
    through and a device or pipe written into, never replaced (``safe_write``)."""
    from .safe_write import write_bytes
    write_bytes(path, wf.to_json().encode("utf-8"))


def json_schema() -> dict:
    """The JSON Schema of the workflow format (``reelgraph schema``)."""
    schema = Workflow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # pydantic writes the node-id pattern as patternProperties, which leaves keys that do not
    # match it unconstrained; say instead that every key must match and every value is a node.
    nodes = schema["properties"]["nodes"]
    nodes.pop("patternProperties", None)
    nodes["propertyNames"] = {"pattern": NODE_ID_PATTERN, "maxLength": 128}
    nodes["additionalProperties"] = {"$ref": "#/$defs/NodeEntry"}
    return schema


def _issue_from_pydantic(err: Mapping[str, Any], raw: dict) -> Issue:
    loc = list(err.get("loc", ()))
    node = None
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(raw.get("nodes"), dict) and loc[1] in raw["nodes"]:
        node = str(loc[1])
        loc = loc[2:]
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
    field = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in loc).replace(".[", "[") or None
    kind = err.get("type", "")
    msg = err.get("msg", "invalid")
    fix = None
    if kind == "extra_forbidden":
        msg = "unknown field"
        fix = "remove it (params go under \"params\", editor data under \"meta\")"
    elif kind == "missing":
        msg = "required field is missing"
        fix = "add it"
    elif kind == "string_pattern_mismatch":
        if field and field.startswith("edges"):
            fix = 'write ports as "node.port", e.g. "story.text"'
        else:
            msg = f"node id {node or err.get('input')!r} is invalid"
            fix = "use letters, digits, _ and - (no dots or spaces), starting with a letter"
    elif kind == "literal_error" and field == "schema":
        fix = f'set "schema": "{SCHEMA_NAME}"'
    else:  # every issue says what to do, even pydantic's generic ones
        fix = "see `reelgraph schema` for the expected form of this field"
    return Issue(msg, node=node, field=field, fix=fix, code="schema")
