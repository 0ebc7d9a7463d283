"""The node declaration API (public, versioned as ``NODE_API_VERSION``).

A node is a small class: typed ``Input`` ports, ``Param`` widgets (which can also be wired),
typed ``Output`` ports, a one-line docstring shown as its tooltip, an id ``domain.verb_noun`` and a
semver ``version``::

    class TextJoinNode(Node):
        \"\"\"Join a list of texts into one, with a separator between them.\"\"\"
        type = "text.join"
        version = "1.0.0"

        items = Input(List[Text])
        separator = Param(Text, default=", ")
        text = Output(Text)

        def run(self, ctx, items, separator):
            return {"text": separator.join(items)}

The class is checked when it is defined; a mistake raises ``DeclarationError`` naming the class,
the field and the fix. ``run`` gets the context and one keyword argument per input and param
and returns a dict of outputs (or the bare value when the node has exactly one output).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any as _Any
from typing import ClassVar, NoReturn, Sequence
from typing import Type as _Type  # NodeSpec's field `type` hides the builtin inside its class body

from . import types as t
from .errors import DeclarationError

NODE_API_VERSION = "1.0"

_NO_DEFAULT = object()
_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
FILE_KINDS = ("image", "audio", "video", "any")
_PORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = {"run", "type", "version", "output", "cacheable", "deterministic", "instant", "runs_instantly",
             "resources", "models",
             "spec", "upgrade_params", "fingerprint", "models_for", "category", "title",
             "self", "ctx"}  # run(self, ctx, **values): a port named ctx or self could never be passed


@dataclass
class PortSpec:
    """What a node declares about one input, param or output (see ``Input``, ``Param``, ``Output``)."""

    kind: str  # "input" | "param" | "output"
    type: t.PortType
    doc: str = ""
    label: str | None = None
    default: _Any = _NO_DEFAULT
    required: bool = True
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | None = None
    multiline: bool = False
    wirable: bool = True
    file: str | None = None  # a path param: "image" | "audio" | "video" | "any" (editors show a file picker)
    suggestions: tuple[str, ...] | None = None  # values an editor offers for a free Text param
    name: str = ""
    port_name: str | None = None  # an output named like an input: declared under another attribute

    def __set_name__(self, owner, name):
        self.name = self.port_name or name

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def check(self, value: _Any) -> _Any:
        """``value`` converted to this port's type, or ValueError saying what is wrong."""
        value = t.check_value(self.type, value)
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                raise ValueError(f"{value} is below the minimum {self.min:g}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{value} is above the maximum {self.max:g}")
        return value

    def to_dict(self) -> dict:
        d: dict[str, _Any] = {"name": self.name, "kind": self.kind, "type": str(self.type),
                              "list": self.type.is_list, "doc": self.doc,
                              "label": self.label or self.name.replace("_", " ")}
        if self.kind != "output":
            d["required"] = self.required
        if self.kind == "param":
            d.update(default=t.encode(self.default) if self.has_default else None,  # required: no default
                     min=self.min, max=self.max, step=self.step,
                     choices=list(self.choices) if self.choices else None,
                     multiline=self.multiline, wirable=self.wirable, file=self.file,
                     suggestions=list(self.suggestions) if self.suggestions else None)
        return d


def Input(type: t.PortType, *, required: bool = True, doc: str = "", label: str | None = None) -> _Any:
    """A port wired from another node's output. ``required=False`` makes it optional (None when unwired)."""
    return PortSpec("input", type, doc=doc, label=label, required=required)


def Param(type: t.PortType, default: _Any = _NO_DEFAULT, *, min: float | None = None,
          max: float | None = None, step: float | None = None, choices: Sequence[str] | None = None,
          multiline: bool = False, doc: str = "", label: str | None = None,
          wirable: bool = True, file: str | None = None, suggestions: Sequence[str] | None = None) -> _Any:
    """A widget with a default (and bounds or choices); it can also be wired like an input.

    A param without a default is required: the workflow must set or wire it. ``file`` marks a Text
    param that names a file ("image", "audio", "video" or "any"): editors offer a file picker.
    ``suggestions``: values an editor offers for a Text param that still takes any text (model
    presets, where a local folder is also fine); unlike ``choices`` they do not restrict the value.
    """
    if suggestions is not None and type != t.Text:
        raise DeclarationError("Param(suggestions=...): suggestions are for Text params; use choices")
    if file is not None and (file not in FILE_KINDS or type != t.Text):
        raise DeclarationError(f"Param(file={file!r}): file must be one of {', '.join(FILE_KINDS)} "
                               f"on a Text param")
    return PortSpec("param", type, doc=doc, label=label, default=default,
                    required=default is _NO_DEFAULT, min=min, max=max, step=step,
                    choices=tuple(choices) if choices is not None else None,
                    multiline=multiline, wirable=wirable, file=file,
                    suggestions=tuple(suggestions) if suggestions is not None else None)


def Output(type: t.PortType, *, doc: str = "", label: str | None = None, name: str | None = None) -> _Any:
    """A typed result of the node.

    ``name``: the port's name when it differs from the attribute, e.g. an output ``image`` next to an
    input ``image`` (``image_out = Output(Image, name="image")``); edges name outputs and inputs apart.
    """
    return PortSpec("output", type, doc=doc, label=label, port_name=name)


@dataclass(frozen=True)
class Resources:
    """What one call of a node occupies while it runs.

    ``cpu``: cores it keeps busy (0 for nodes that mostly wait: remote APIs, subprocess pipes);
    the executor runs CPU work only up to the machine's core count but lets waiting nodes overlap
    freely. ``gpu``: 1 for a GPU-heavy node (one at a time per device). ``vram_gb``: its peak need.
    """

    cpu: float = 1.0
    gpu: int = 0
    vram_gb: float = 0.0


@dataclass(frozen=True)
class ModelNeed:
    """A model a node needs loaded; the model manager (not the node) loads and keeps it.

    ``id`` names the weights (a preset id, a hub repo, or a local folder), ``kind`` picks the loader
    registered with ``reelgraph.graph.models`` (``diffusers``, ``transformers``), ``name`` is the key
    under which ``ctx.models`` hands the loaded model to run(), and ``options`` (sorted key/value pairs)
    tell the loader what it needs: the local path, the pipeline class, the revision.
    """

    id: str
    kind: str = "diffusers"
    vram_gb: float = 0.0
    optional: bool = False
    name: str = "model"
    options: tuple[tuple[str, str], ...] = ()

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)


@dataclass
class NodeSpec:
    """The whole declaration of a node class, as the registry, validator and editor see it."""

    type: str
    version: str
    cls: _Type[Node]
    title: str
    description: str
    category: str
    inputs: dict[str, PortSpec] = field(default_factory=dict)
    params: dict[str, PortSpec] = field(default_factory=dict)
    outputs: dict[str, PortSpec] = field(default_factory=dict)
    output: bool = False
    cacheable: bool = True
    deterministic: bool = True
    instant: bool = False
    resources: Resources = Resources()
    models: tuple[ModelNeed, ...] = ()

    @property
    def tooltip(self) -> str:
        return self.description.split("\n", 1)[0]

    def ports_in(self) -> dict[str, PortSpec]:
        """Inputs and wirable params: everything an edge may point at."""
        return {**self.inputs, **{k: p for k, p in self.params.items() if p.wirable}}

    def to_dict(self) -> dict:
        return {
            "type": self.type, "version": self.version, "title": self.title,
            "category": self.category, "tooltip": self.tooltip, "description": self.description,
            "inputs": [p.to_dict() for p in self.inputs.values()],
            "params": [p.to_dict() for p in self.params.values()],
            "outputs": [p.to_dict() for p in self.outputs.values()],
            "output": self.output, "cacheable": self.cacheable,
            "deterministic": self.deterministic, "instant": self.instant,
            "resources": {"cpu": self.resources.cpu, "gpu": self.resources.gpu,
                          "vram_gb": self.resources.vram_gb},
            "models": [{"id": m.id, "kind": m.kind, "vram_gb": m.vram_gb, "optional": m.optional,
                        "name": m.name} for m in self.models],
        }


class Node:
    """Base class of every node. Subclasses declare ports as class attributes and implement run()."""

    type: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    title: ClassVar[str | None] = None
    output: ClassVar[bool] = False
    cacheable: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    # run() takes milliseconds and makes no media (parsing, text, numbers, lists): a planner may run
    # it to see exactly which downstream calls change (the editor's stale marks, `reelgraph plan`).
    instant: ClassVar[bool] = False
    resources: ClassVar[Resources] = Resources()
    models: ClassVar[tuple[ModelNeed, ...]] = ()
    spec: ClassVar[NodeSpec]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:  # a concrete node; bases without a type id are abstract helpers
            cls.spec = _build_spec(cls)

    def run(self, ctx, **values) -> _Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    @classmethod
    def upgrade_params(cls, params: dict, from_version: str) -> dict:
        """Turn params saved by an older ``version`` of this node into current ones (override it)."""
        return params

    @classmethod
    def runs_instantly(cls, values: dict) -> bool:
        """Whether a call with these values is instant (see ``instant``); override when a param
        decides it, e.g. a draft backend is instant and a model backend is not."""
        return cls.instant

    @classmethod
    def models_for(cls, values: dict, workspace: Path) -> tuple[ModelNeed, ...]:
        """The models one call with these values needs (the executor has the model manager load
        them into ``ctx.models``); override when a param decides it, e.g. a ``backend`` param.
        Raise NodeError when a needed model is missing: the call then fails before it starts."""
        return cls.models

    @classmethod
    def resolves_where_it_runs(cls, values: dict) -> bool:
        """Whether ``models_for`` and ``fingerprint`` with these values look at the machine (its
        GPUs, its model files). A cluster engine then asks a worker that would run the call, not
        the head node, which may have neither; override with e.g. a ``backend`` param."""
        return False

    @classmethod
    def sketch(cls, values: dict) -> dict | None:
        """What a call with these values will output, told without running it, for estimates:
        ``{port: value}`` with media as ``estimates.sketch_media("video", width=..., height=...,
        frames=..., fps=..., duration=...)``. Ports left out are guessed (media passed through from
        the inputs, placeholders for the rest); override when the node changes sizes or lengths."""
        return None

    @classmethod
    def cost_drivers(cls, values: dict, outputs: dict) -> dict | None:
        """Extra numbers this node's cost grows with, beside the generic ones (``estimates.drivers``:
        pixels × frames, pixels, seconds of audio, characters, steps); ``{"work": x}`` replaces the
        one the fit uses."""
        return None

    @classmethod
    def estimate_prior(cls, values: dict, drivers: dict, models: tuple):
        """An ``estimates.Prior`` for a call never measured on this machine (e.g. from a table of
        figures measured on reference GPUs), with warnings when it will not fit; None: no idea."""
        return None

    @classmethod
    def fingerprint(cls, values: dict, workspace: Path) -> str | None:
        """Extra cache-key material that the values do not show, e.g. the size and mtime of a file
        named by a path param (relative paths are relative to ``workspace``); None if none."""
        return None


def _build_spec(cls: type[Node]) -> NodeSpec:
    name = cls.__qualname__

    def fail(field_: str, problem: str, fix: str) -> NoReturn:
        raise DeclarationError(f"node class {name}: {field_}: {problem} — {fix}")

    type_id = cls.__dict__["type"]
    if not isinstance(type_id, str) or not _TYPE_ID.match(type_id):
        fail("type", f"{type_id!r} is not an id of the form domain.verb_noun",
             'use lower-case words joined by "_", one dot: e.g. "video.image_to_video"')
    if not isinstance(cls.version, str) or not _SEMVER.match(cls.version):
        fail("version", f"{cls.version!r} is not a semantic version", 'write it as "1.0.0"')
    doc = inspect.getdoc(cls) if "__doc__" in cls.__dict__ and cls.__doc__ else None
    if not doc or not doc.strip():  # a blank docstring is as good as none (getdoc keeps it)
        fail("docstring", "missing", "add a one-line docstring: it is the node's tooltip")
    if cls.run is Node.run:
        fail("run", "not implemented", "define run(self, ctx, **inputs) returning the outputs")

    ports: dict[str, dict[str, PortSpec]] = {"input": {}, "param": {}, "output": {}}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, PortSpec):
                for group in ports.values():
                    group.pop(attr, None)
                key = value.port_name or attr
                ports[value.kind].pop(key, None)  # a subclass redeclares it
                ports[value.kind][key] = value
    for kind, group in ports.items():
        for pname, port in group.items():
            where = f"{kind} {pname!r}"
            if not _PORT_NAME.match(pname) or (pname in _RESERVED and not port.port_name):
                fail(where, "bad name", "use a lower-case name that is not a Node attribute, self or ctx")
            if not isinstance(port.type, t.PortType):
                fail(where, f"type {port.type!r} is not a port type",
                     "use Text, Int, Float, Bool, Choice, Image, Video, Audio, Shot, Any or List[T]")
            if port.type == t.Choice and kind == "param" and not port.choices:
                fail(where, "a Choice param needs choices", 'pass choices=["a", "b"]')
            if port.choices is not None and (not port.choices or not all(isinstance(c, str) for c in port.choices)):
                fail(where, "choices must be a non-empty list of strings", 'pass choices=["a", "b"]')
            if port.min is not None and port.max is not None and port.min > port.max:
                fail(where, f"min {port.min} is above max {port.max}", "swap them")
            if kind == "param" and port.has_default and port.default is not None:
                try:
                    port.default = port.check(port.default)
                except ValueError as e:
                    fail(where, f"default {port.default!r} is invalid: {e}",
                         "give a default that fits the type and bounds")
            if kind == "param" and port.type.is_media and port.has_default and port.default is not None:
                fail(where, "a media param cannot have a default", "declare it as an Input")
    overlap = set(ports["input"]) & set(ports["param"])
    if overlap:
        fail("ports", f"{sorted(overlap)} are both inputs and params", "rename one of them")
    if not ports["output"] and not cls.output:
        fail("outputs", "the node declares no Output", "declare an Output or set output = True")

    # run() must accept every input and param by name.
    sig = inspect.signature(cls.run)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    if not accepts_any:
        missing = [n for n in (*ports["input"], *ports["param"]) if n not in sig.parameters]
        if missing:
            fail("run", f"does not accept {', '.join(missing)}",
                 "add them as keyword parameters of run (or **values)")

    res = cls.resources
    if not isinstance(res, Resources) or res.cpu < 0 or res.gpu < 0 or res.vram_gb < 0:
        fail("resources", f"{res!r} is invalid", "use Resources(cpu=1, gpu=0, vram_gb=0) with values >= 0")
    try:
        models = tuple(cls.models)
    except TypeError:
        models = None
    if models is None or not all(isinstance(m, ModelNeed) for m in models):
        fail("models", "entries must be ModelNeed(...)", 'write models = (ModelNeed("org/model"),)')
    for flag in ("output", "cacheable", "deterministic", "instant"):
        if not isinstance(getattr(cls, flag), bool):
            fail(flag, "must be True or False", f"set {flag} = True or False")

    domain = type_id.split(".")[0]
    title = cls.title or _title_from(cls.__name__)
    return NodeSpec(type=type_id, version=cls.version, cls=cls, title=title, description=doc,
                    category=domain, inputs=ports["input"], params=ports["param"],
                    outputs=ports["output"], output=cls.output, cacheable=cls.cacheable,
                    deterministic=cls.deterministic, instant=cls.instant, resources=res, models=models)


def _title_from(class_name: str) -> str:
    base = class_name[:-4] if class_name.endswith("Node") and len(class_name) > 4 else class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base)
