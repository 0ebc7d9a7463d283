"""The node declaration API: a good class builds a full spec; every mistake is a DeclarationError
raised when the class is defined, naming the class, the field and the fix."""

from __future__ import annotations

import re

import pytest
from reelgraph import graph
from reelgraph.graph import (
    NODE_API_VERSION,
    Any,
    Bool,
    Choice,
    DeclarationError,
    Float,
    Image,
    Input,
    Int,
    List,
    MediaRef,
    ModelNeed,
    Node,
    Output,
    Param,
    Resources,
    T,
    Text,
)
from reelgraph.graph.node import NodeSpec, PortSpec

# ----------------------------------------------------------------------------------------------
# A good node


class RenderClipNode(Node):
    """Render a clip from a prompt.

    The longer description goes here; only the first line is the tooltip.
    """

    type = "video.render_clip"
    version = "2.1.0-beta.1"
    output = True
    cacheable = False
    deterministic = False
    resources = Resources(cpu=2, gpu=1, vram_gb=12.5)
    models = (ModelNeed("org/video-model", vram_gb=10), ModelNeed("org/vae", kind="vae", optional=True))

    prompt = Input(Text, doc="What to show.")
    reference = Input(Image, required=False, label="Reference image")
    frames = Param(Int, default=48, min=1, max=240, step=1, doc="How many frames.")
    strength = Param(Float, default=1, min=0.0, max=1.0)  # an Int default for a Float param
    mode = Param(Choice, default="fast", choices=["fast", "best"])
    caption = Param(Text, multiline=True)  # no default: required
    seed = Param(Int, default=None)  # explicitly optional
    loop = Param(Bool, default=False, wirable=False)
    clip = Output(graph.Video, doc="The clip.")
    frame_count = Output(Int)

    def run(self, ctx, prompt, reference, frames, strength, mode, caption, seed, loop):
        return {"clip": None, "frame_count": frames}


def test_good_node_builds_a_full_spec():
    spec = RenderClipNode.spec
    assert isinstance(spec, NodeSpec)
    assert spec.type == "video.render_clip"
    assert spec.version == "2.1.0-beta.1"
    assert spec.cls is RenderClipNode
    assert spec.category == "video"  # from the id's domain
    assert spec.title == "Render Clip"  # from the class name, "Node" dropped
    assert spec.tooltip == "Render a clip from a prompt."
    assert spec.description.startswith("Render a clip from a prompt.\n\nThe longer description")
    assert (spec.output, spec.cacheable, spec.deterministic) == (True, False, False)
    assert spec.resources == Resources(cpu=2, gpu=1, vram_gb=12.5)
    assert [m.id for m in spec.models] == ["org/video-model", "org/vae"]
    assert spec.models[1].optional and spec.models[1].kind == "vae"

    assert list(spec.inputs) == ["prompt", "reference"]
    assert list(spec.params) == ["frames", "strength", "mode", "caption", "seed", "loop"]
    assert list(spec.outputs) == ["clip", "frame_count"]
    assert spec.inputs["prompt"].required and not spec.inputs["reference"].required
    assert spec.inputs["reference"].label == "Reference image"
    assert spec.inputs["prompt"].doc == "What to show."

    frames = spec.params["frames"]
    assert (frames.default, frames.min, frames.max, frames.step) == (48, 1, 240, 1)
    assert frames.has_default and not frames.required
    strength = spec.params["strength"]
    assert strength.default == 1.0 and isinstance(strength.default, float)  # coerced to the type
    assert spec.params["mode"].choices == ("fast", "best")
    assert spec.params["caption"].required and not spec.params["caption"].has_default
    assert spec.params["caption"].multiline
    assert spec.params["seed"].has_default and spec.params["seed"].default is None
    assert spec.outputs["clip"].type == graph.Video


def test_wirable_params_are_ports_in_but_widget_only_ones_are_not():
    ports = RenderClipNode.spec.ports_in()
    assert "prompt" in ports and "frames" in ports and "caption" in ports
    assert "loop" not in ports  # wirable=False


def test_spec_to_dict_is_what_the_editor_reads():
    d = RenderClipNode.spec.to_dict()
    assert d["type"] == "video.render_clip" and d["category"] == "video"
    assert d["tooltip"] == "Render a clip from a prompt."
    assert d["resources"] == {"cpu": 2, "gpu": 1, "vram_gb": 12.5}
    assert d["models"][0] == {"id": "org/video-model", "kind": "diffusers", "vram_gb": 10, "optional": False,
                             "name": "model"}
    params = {p["name"]: p for p in d["params"]}
    assert params["frames"]["default"] == 48 and params["frames"]["min"] == 1 and params["frames"]["max"] == 240
    assert params["mode"]["choices"] == ["fast", "best"]
    assert params["loop"]["wirable"] is False
    # A required param has no default: the catalog must still build (it used to crash encoding it).
    assert params["caption"]["required"] is True and params["caption"]["default"] is None
    assert params["caption"]["label"] == "caption"
    inputs = {p["name"]: p for p in d["inputs"]}
    assert inputs["reference"]["label"] == "Reference image" and inputs["reference"]["required"] is False
    outputs = {p["name"]: p for p in d["outputs"]}
    assert "required" not in outputs["clip"] and outputs["frame_count"]["type"] == "Int"
    assert outputs["frame_count"]["label"] == "frame count"
    lst = PortSpec("input", List[Text], name="xs").to_dict()
    assert lst["type"] == "List[Text]" and lst["list"] is True


def test_explicit_title_and_defaults_of_the_flags():
    class PlainNode(Node):
        """Do a thing."""

        type = "misc.do_thing"
        title = "Custom title"
        out = Output(Text)

        def run(self, ctx):
            return "x"

    spec = PlainNode.spec
    assert spec.title == "Custom title"
    assert spec.version == "1.0.0"
    assert (spec.output, spec.cacheable, spec.deterministic) == (False, True, True)
    assert spec.resources == Resources() and spec.models == ()
    assert spec.inputs == {} and spec.params == {}


def test_output_node_needs_no_outputs_and_run_may_take_var_keywords():
    class SinkNode(Node):
        """Write something somewhere."""

        type = "io.save_text"
        output = True
        text = Input(Text)
        path = Param(Text, default="out.txt")

        def run(self, ctx, **values):
            return None

    assert SinkNode.spec.outputs == {} and SinkNode.spec.output


def test_abstract_bases_have_no_spec_and_ports_are_inherited():
    class Base(Node):
        seed = Param(Int, default=0, min=0)
        out = Output(Text)

    assert "spec" not in Base.__dict__

    class ChildNode(Base):
        """A child that adds a prompt."""

        type = "misc.child"
        prompt = Param(Text, default="")

        def run(self, ctx, seed, prompt):
            return prompt

    assert list(ChildNode.spec.params) == ["seed", "prompt"]
    assert list(ChildNode.spec.outputs) == ["out"]


def test_a_subclass_can_redeclare_an_input_as_a_param():
    class Base(Node):
        x = Input(Int)
        out = Output(Int)

    class ChildNode(Base):
        """Redeclares x."""

        type = "misc.redeclare"
        x = Param(Int, default=3)

        def run(self, ctx, x):
            return x

    assert "x" in ChildNode.spec.params and "x" not in ChildNode.spec.inputs


def test_port_check_applies_type_bounds_and_choices():
    spec = RenderClipNode.spec
    assert spec.params["frames"].check(10.0) == 10
    with pytest.raises(ValueError, match="below the minimum 1"):
        spec.params["frames"].check(0)
    with pytest.raises(ValueError, match="above the maximum 240"):
        spec.params["frames"].check(241)
    with pytest.raises(ValueError, match="not one of 'fast', 'best'"):
        spec.params["mode"].check("slow")
    with pytest.raises(ValueError, match="expected Int"):
        spec.params["frames"].check("ten")
    with pytest.raises(ValueError, match="expected Int"):
        spec.params["frames"].check(True)  # a bool is not a number here


def test_node_api_version_is_public():
    assert NODE_API_VERSION == graph.NODE_API_VERSION == "1.0"


# ----------------------------------------------------------------------------------------------
# Declaration errors: raised when the class statement runs


def _raises(build, *fragments: str) -> str:
    """Run ``build`` (which defines a class) and check the DeclarationError names every fragment."""
    with pytest.raises(DeclarationError) as ei:
        build()
    msg = str(ei.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert " — " in msg, f"no fix in {msg!r}"  # problem — fix
    return msg


def _node(name="BadNode", *, doc="A node.", type_id="misc.bad_node", run="default", **attrs):
    """Define a node class from keyword attributes (``run``: a function, "default" or None)."""
    ns = {"__doc__": doc, **attrs}
    if type_id is not None:
        ns["type"] = type_id
    if run == "default":
        ns["run"] = lambda self, ctx, **values: None
    elif run is not None:
        ns["run"] = run
    if not any(isinstance(v, PortSpec) and v.kind == "output" for v in attrs.values()):
        ns.setdefault("out", Output(Text))
    return type(name, (Node,), ns)


def test_declaration_error_is_a_type_error_and_a_reelgraph_error():
    assert issubclass(DeclarationError, TypeError)
    assert issubclass(DeclarationError, graph.ReelgraphError)


@pytest.mark.parametrize("bad", ["Video.make", "video", "video.make.more", "video-x.make", "video.",
                                 ".make", "1video.make", "video.Make", "video make.x", ""])
def test_bad_type_id(bad):
    msg = _raises(lambda: _node("BadIdNode", type_id=bad), "node class BadIdNode", "type:",
                  repr(bad), "domain.verb_noun", 'e.g. "video.image_to_video"')
    assert msg.startswith("node class BadIdNode: type:")


def test_type_id_must_be_a_string():
    _raises(lambda: _node("NumIdNode", type_id=5), "NumIdNode", "type:", "5 is not an id")


def test_bad_type_id_in_a_class_statement_names_the_qualified_class():
    def build():
        class OopsNode(Node):
            """Oops."""

            type = "Oops"
            out = Output(Text)

            def run(self, ctx):
                return ""

    msg = _raises(build, "test_bad_type_id_in_a_class_statement_names_the_qualified_class.<locals>.build."
                         "<locals>.OopsNode", "type:")
    assert "'Oops' is not an id" in msg


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "1.x.0", "", "1.0.0-", 1, 1.0, None])
def test_bad_semver(bad):
    _raises(lambda: _node("BadVersionNode", version=bad), "node class BadVersionNode", "version:",
            f"{bad!r} is not a semantic version", 'write it as "1.0.0"')


@pytest.mark.parametrize("good", ["0.0.1", "1.0.0", "10.20.30", "1.0.0-rc.1", "2.0.0-alpha-2"])
def test_good_semver(good):
    assert _node("GoodVersionNode", version=good).spec.version == good


@pytest.mark.parametrize("doc", [None, "", "   \n  "])
def test_missing_docstring(doc):
    _raises(lambda: _node("NoDocNode", doc=doc), "node class NoDocNode", "docstring: missing",
            "add a one-line docstring: it is the node's tooltip")


def test_docstring_is_not_inherited():
    class Base(Node):
        """The base's docstring."""

    def build():
        class UndocumentedNode(Base):
            type = "misc.undocumented"
            out = Output(Text)

            def run(self, ctx):
                return ""

    _raises(build, "UndocumentedNode", "docstring: missing")


def test_no_run():
    _raises(lambda: _node("NoRunNode", run=None), "node class NoRunNode", "run: not implemented",
            "define run(self, ctx, **inputs)")


def test_choice_param_without_choices():
    _raises(lambda: _node("NoChoicesNode", mode=Param(Choice, default="a")),
            "node class NoChoicesNode", "param 'mode'", "a Choice param needs choices", "choices=[")
    _raises(lambda: _node("EmptyChoicesNode", mode=Param(Choice, choices=[])),
            "EmptyChoicesNode", "param 'mode'", "a Choice param needs choices")


def test_suggestions_are_offered_values_of_a_free_text_param():
    cls = _node("SuggestNode", model=Param(Text, default="", suggestions=["small", "large"]))
    port = cls.spec.params["model"]
    assert port.to_dict()["suggestions"] == ["small", "large"]
    assert port.check("./my-own-folder") == "./my-own-folder"  # unlike choices, anything goes
    with pytest.raises(DeclarationError, match="suggestions are for Text params"):
        Param(Int, default=1, suggestions=["1"])


def test_choice_input_needs_no_choices():
    cls = _node("ChoiceInputNode", mode=Input(Choice))
    assert cls.spec.inputs["mode"].choices is None


def test_choices_must_be_strings():
    _raises(lambda: _node("IntChoicesNode", level=Param(Text, default="1", choices=[1, 2])),
            "IntChoicesNode", "param 'level'", "choices must be a non-empty list of strings")


def test_min_above_max():
    _raises(lambda: _node("MinMaxNode", steps=Param(Int, default=5, min=10, max=1)),
            "node class MinMaxNode", "param 'steps'", "min 10 is above max 1", "swap them")


@pytest.mark.parametrize("param, problem", [
    (Param(Int, default="ten"), "default 'ten' is invalid: expected Int, got str 'ten'"),
    (Param(Int, default=1.5), "default 1.5 is invalid"),
    (Param(Int, default=20, min=0, max=10), "default 20 is invalid: 20 is above the maximum 10"),
    (Param(Float, default=-1, min=0), "is below the minimum 0"),
    (Param(Choice, default="huge", choices=["small", "big"]), "'huge' is not one of 'small', 'big'"),
    (Param(Bool, default="yes"), "expected Bool"),
    (Param(List[Int], default=[1, "x"]), "expected Int"),
    (Param(Float, default=float("nan")), "finite"),
])
def test_bad_default(param, problem):
    _raises(lambda: _node("BadDefaultNode", value=param), "node class BadDefaultNode", "param 'value'",
            problem, "give a default that fits the type and bounds")


def test_media_param_cannot_have_a_default():
    ref = MediaRef("image", "d" * 64, ".png", 10)
    _raises(lambda: _node("MediaDefaultNode", picture=Param(Image, default=ref)),
            "MediaDefaultNode", "param 'picture'", "a media param cannot have a default", "declare it as an Input")


def test_port_type_must_be_a_port_type():
    _raises(lambda: _node("StrTypeNode", label=Input(str)), "StrTypeNode", "input 'label'",
            "is not a port type", "use Text, Int, Float")
    _raises(lambda: _node("StrOutNode", out=Output("Text")), "StrOutNode", "output 'out'",
            "'Text' is not a port type")


def test_run_missing_a_param():
    def run(self, ctx, prompt):
        return ""

    _raises(lambda: _node("MissingArgNode", run=run, prompt=Input(Text), steps=Param(Int, default=1),
                          seed=Param(Int, default=0)),
            "node class MissingArgNode", "run: does not accept steps, seed",
            "add them as keyword parameters of run (or **values)")


@pytest.mark.parametrize("res", [Resources(cpu=-1), Resources(gpu=-1), Resources(vram_gb=-0.5),
                                 {"gpu": 1}, 1, None])
def test_bad_resources(res):
    _raises(lambda: _node("BadResNode", resources=res), "node class BadResNode", "resources:",
            "is invalid", "use Resources(cpu=1, gpu=0, vram_gb=0) with values >= 0")


@pytest.mark.parametrize("models", [("org/model",), [ModelNeed("a/b"), "c/d"], 5, "org/model"])
def test_bad_models(models):
    _raises(lambda: _node("BadModelsNode", models=models), "node class BadModelsNode", "models:",
            "entries must be ModelNeed(...)", 'ModelNeed("org/model")')


def test_models_may_be_a_list():
    cls = _node("ListModelsNode", models=[ModelNeed("a/b")])
    assert cls.spec.models == (ModelNeed("a/b"),)


@pytest.mark.parametrize("flag", ["output", "cacheable", "deterministic"])
def test_flags_must_be_booleans(flag):
    _raises(lambda: _node("BadFlagNode", **{flag: "yes"}), "node class BadFlagNode", f"{flag}:",
            "must be True or False", f"set {flag} = True or False")


def test_no_outputs():
    def build():
        class NothingNode(Node):
            """Returns nothing, shows nothing."""

            type = "misc.nothing"
            x = Input(Int)

            def run(self, ctx, x):
                return None

    _raises(build, "NothingNode", "outputs: the node declares no Output",
            "declare an Output or set output = True")


@pytest.mark.parametrize("name", ["spec", "title", "category", "fingerprint", "upgrade_params",
                                  "resources", "ctx", "self"])
def test_reserved_port_name(name):
    def run(self, ctx, **values):
        return ""

    ns = {"__doc__": "Reserved.", "type": "misc.reserved", "run": run, "out": Output(Text),
          name: Param(Int, default=1)}
    msg = _raises(lambda: type("ReservedNode", (Node,), ns), "node class ReservedNode",
                  f"param {name!r}", "bad name", "use a lower-case name that is not a Node attribute")
    assert re.search(r"self or ctx", msg)


@pytest.mark.parametrize("name", ["Prompt", "_hidden", "camelCase", "x-y", "1x"])
def test_invalid_port_name(name):
    ns = {"__doc__": "Invalid.", "type": "misc.invalid_port", "run": lambda self, ctx, **v: "",
          name: Input(Text)}
    ns["out"] = Output(Text)
    _raises(lambda: type("InvalidPortNode", (Node,), ns), "InvalidPortNode", f"input {name!r}", "bad name")


def test_invalid_output_name():
    _raises(lambda: _node("BadOutNode", Result=Output(Int)), "BadOutNode", "output 'Result'", "bad name")


def test_type_variables_and_any_are_accepted():
    cls = _node("GenericNode", items=Input(List[T]), anything=Input(Any), first=Output(T))
    assert cls.spec.inputs["items"].type == List[T]
    assert cls.spec.outputs["first"].type == T


def test_an_output_can_share_its_name_with_an_input_through_name():
    from reelgraph.graph import Image, Input, Node, Output

    class Sharpen(Node):
        """Sharpen an image."""

        type = "test.sharpen"
        version = "1.0.0"
        image = Input(Image)
        image_out = Output(Image, name="image")

        def run(self, ctx, image):
            return image

    assert list(Sharpen.spec.inputs) == ["image"] and list(Sharpen.spec.outputs) == ["image"]
    assert Sharpen.spec.outputs["image"].to_dict()["name"] == "image"
