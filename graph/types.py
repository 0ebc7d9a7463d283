"""Port types, the rules for wiring them, and how values are checked, encoded and hashed.

Every compatibility rule lives here (``link_mode``); validation, the executor and the editor's
catalog all ask this module rather than repeating the rules.

Types: ``Text Int Float Bool Choice Image Video Audio Shot Any`` and ``List[T]``; ``T`` is a type
variable a node can use to say "the same type as what is wired in" (``list.pick``).
Media values are ``MediaRef`` objects: a file in the artifact store plus its metadata, never pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any as _Any
from typing import Mapping

__all__ = [
    "PortType", "ListType", "TypeVar", "Text", "Int", "Float", "Bool", "Choice", "Image", "Video",
    "Audio", "Shot", "Any", "T", "List", "parse_type", "link_mode", "check_value", "encode",
    "decode", "digest", "MediaRef", "ShotValue", "MEDIA_KINDS",
]


@dataclass(frozen=True)
class PortType:
    name: str

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name

    def __getitem__(self, item):  # so that List[Text] reads like typing
        raise TypeError(f"{self.name} takes no type argument")

    @property
    def is_list(self) -> bool:
        return False

    @property
    def is_media(self) -> bool:
        return self.name in MEDIA_KINDS.values()


@dataclass(frozen=True, repr=False)
class ListType(PortType):
    item: PortType = None  # type: ignore[assignment]

    @property
    def is_list(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class TypeVar(PortType):
    """A placeholder bound, per node in a workflow, to the type wired into it."""


class _ListFactory:
    """``List[Text]`` (or ``List(Text)``) builds a list type; instances are shared."""

    _made: dict[PortType, ListType] = {}

    def __getitem__(self, item: PortType) -> ListType:
        return self(item)

    def __call__(self, item: PortType) -> ListType:
        if not isinstance(item, PortType):
            raise TypeError(f"List[...] takes a port type such as Text, got {item!r}")
        made = self._made.get(item)
        if made is None:
            made = self._made[item] = ListType(f"List[{item.name}]", item)
        return made

    def __repr__(self) -> str:
        return "List"


Text = PortType("Text")
Int = PortType("Int")
Float = PortType("Float")
Bool = PortType("Bool")
Choice = PortType("Choice")
Image = PortType("Image")
Video = PortType("Video")
Audio = PortType("Audio")
Shot = PortType("Shot")
Any = PortType("Any")
T = TypeVar("T")
List = _ListFactory()

MEDIA_KINDS = {"image": "Image", "video": "Video", "audio": "Audio"}
_BY_NAME = {t.name: t for t in (Text, Int, Float, Bool, Choice, Image, Video, Audio, Shot, Any, T)}

# Scalar conversions made silently when wiring: (from, to). Anything shown as text can feed Text.
_COERCE = {(Int, Float), (Int, Text), (Float, Text), (Bool, Text), (Choice, Text), (Text, Choice)}


def parse_type(name: str) -> PortType:
    """``"List[Text]"`` -> ``List[Text]``; raises ValueError naming the known types."""
    name = name.strip()
    if name.startswith("List[") and name.endswith("]"):
        return List[parse_type(name[5:-1])]
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown port type {name!r}; known: {', '.join(_BY_NAME)} and List[T]") from None


def link_mode(src: PortType, dst: PortType) -> str | None:
    """How a value of type ``src`` reaches an input of type ``dst``.

    ``"direct"``: passed as is (possibly coerced, see ``_COERCE``); ``"map"``: ``src`` is a list of
    something that fits ``dst``, so the node runs once per element; ``None``: it does not fit.
    A direct fit always wins over mapping.
    """
    if _fits(src, dst):
        return "direct"
    if isinstance(src, ListType) and _fits(src.item, dst):
        return "map"
    return None


def _fits(src: PortType, dst: PortType) -> bool:
    if src == dst or dst == Any or src == Any or isinstance(dst, TypeVar) or isinstance(src, TypeVar):
        return True
    if isinstance(src, ListType) and isinstance(dst, ListType):
        return _fits(src.item, dst.item)
    return (src, dst) in _COERCE


def bind(declared: PortType, actual: PortType, bindings: dict[str, PortType]) -> None:
    """Record what type variables in ``declared`` stand for, given the ``actual`` wired type."""
    if isinstance(declared, TypeVar):
        bindings.setdefault(declared.name, actual)
    elif isinstance(declared, ListType) and isinstance(actual, ListType):
        bind(declared.item, actual.item, bindings)


def substitute(declared: PortType, bindings: Mapping[str, PortType]) -> PortType:
    """Replace type variables by what they were bound to (``Any`` when unbound)."""
    if isinstance(declared, TypeVar):
        return bindings.get(declared.name, Any)
    if isinstance(declared, ListType):
        return List[substitute(declared.item, bindings)]
    return declared


# ----------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class MediaRef:
    """A media file in the artifact store: content digest, kind, extension and metadata.

    ``meta`` holds what a consumer needs without opening the file: width, height, fps, frames,
    duration, sample_rate, channels... Two refs with the same digest are the same media.
    """

    kind: str  # "image" | "video" | "audio"
    digest: str  # sha256 of the file's bytes
    ext: str  # ".png", ".mp4", ...
    size: int
    path: str = field(default="", compare=False)  # absolute path where the file lies now
    meta: Mapping[str, _Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.kind not in MEDIA_KINDS:
            raise ValueError(f"media kind must be one of {sorted(MEDIA_KINDS)}, got {self.kind!r}")

    @property
    def type(self) -> PortType:
        return _BY_NAME[MEDIA_KINDS[self.kind]]

    def __getattr__(self, name: str):  # ref.width, ref.fps ... read from meta
        meta = object.__getattribute__(self, "meta")
        if name in meta:
            return meta[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or metadata {name!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "digest": self.digest, "ext": self.ext, "size": self.size,
                "path": self.path, "meta": dict(self.meta)}


@dataclass(frozen=True)
class ShotValue:
    """One shot of a storyboard; the ``Shot`` port type carries these."""

    index: int
    prompt: str
    duration: float = 4.0
    camera: str = "static"
    transition: str = "cut"
    narration: str = ""
    seed: int | None = None
    characters: tuple[str, ...] = ()
    style: str = ""
    extra: Mapping[str, _Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["characters"] = list(self.characters)
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, _Any]) -> "ShotValue":
        d = dict(d)
        d["characters"] = tuple(d.get("characters", ()))
        return cls(**d)

    def replace(self, **changes) -> "ShotValue":
        return dataclasses.replace(self, **changes)


def check_value(t: PortType, value: _Any) -> _Any:
    """Return ``value`` as type ``t`` (applying the allowed coercions) or raise ValueError."""
    if t == Any or isinstance(t, TypeVar):
        return value
    if isinstance(t, ListType):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list ({t}), got {_describe(value)}")
        return [check_value(t.item, v) for v in value]
    if t == Text or t == Choice:
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, int, float)) and t == Text:
            return str(value)
    elif t == Bool:
        if isinstance(value, bool):
            return value
    elif t == Int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif t == Float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                raise ValueError("expected a finite number, got an integer too large for a Float") from None
            if math.isfinite(value):
                return value
            raise ValueError(f"expected a finite number, got {value}")
    elif t == Shot:
        if isinstance(value, ShotValue):
            return value
        if isinstance(value, Mapping) and "prompt" in value:
            try:
                return ShotValue.from_dict({"index": 0, **value})
            except (TypeError, ValueError) as e:  # unknown or malformed fields
                raise ValueError(f"expected {t}, got a malformed shot: {e}") from None
    elif t.is_media:
        if isinstance(value, MediaRef) and value.type == t:
            return value
    raise ValueError(f"expected {t}, got {_describe(value)}")


def _describe(value: _Any) -> str:
    if isinstance(value, MediaRef):
        return f"{MEDIA_KINDS[value.kind]} media"
    try:  # reprlib: bounded depth and size, so deeply nested junk cannot hit the recursion limit
        text = reprlib.repr(value)
    except Exception:  # e.g. an int beyond the str conversion limit
        text = "..."
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def encode(value: _Any) -> _Any:
    """A JSON-able form of a value (media refs and shots are tagged so ``decode`` restores them)."""
    if isinstance(value, MediaRef):
        return {"$media": value.to_dict()}
    if isinstance(value, ShotValue):
        return {"$shot": value.to_dict()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": {k: encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store a value of type {type(value).__name__}; node outputs must be "
                    "text, numbers, booleans, shots, media references or lists of them")


def decode(data: _Any, media_path=None) -> _Any:
    """Inverse of ``encode``; ``media_path(ref)`` may supply where a media file lies now."""
    if isinstance(data, list):
        return [decode(v, media_path) for v in data]
    if isinstance(data, dict):
        if "$media" in data:
            ref = MediaRef(**data["$media"])
            if media_path is not None:
                ref = dataclasses.replace(ref, path=str(media_path(ref)))
            return ref
        if "$shot" in data:
            return ShotValue.from_dict(data["$shot"])
        if "$dict" in data:
            return {k: decode(v, media_path) for k, v in data["$dict"].items()}
        raise ValueError(f"cannot decode stored value {data!r}")
    return data


def digest(value: _Any) -> str:
    """Content digest of a value: equal values (and the same media bytes) give the same digest."""
    if isinstance(value, MediaRef):
        return "m" + value.digest
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h, value: _Any) -> None:
    # Iterative on purpose: deep nesting must not hit the recursion limit.
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, MediaRef):
            h.update(b"M" + v.digest.encode())
        elif isinstance(v, (list, tuple)):
            h.update(b"[%d" % len(v))
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            # Walked like lists (not canonical_json): media inside hash by content, not by path,
            # and deep nesting stays iterative. Keys in sorted order, as JSON would store them.
            items = sorted(((str(k), x) for k, x in v.items()), key=lambda kx: kx[0])
            h.update(b"{%d" % len(items))
            for k, x in reversed(items):
                stack.append(x)
                stack.append(_Key(k))
        elif isinstance(v, _Key):
            h.update(b"K" + canonical_json(str(v)).encode())
        elif isinstance(v, ShotValue):
            h.update(b"S" + canonical_json(v.to_dict()).encode())
        elif isinstance(v, float):
            h.update(b"F" + repr(v).encode())
        else:
            h.update(b"J" + canonical_json(v).encode())


class _Key(str):
    """A dict key while ``_feed`` walks a dict (so it hashes differently from a string value)."""


def canonical_json(value: _Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
