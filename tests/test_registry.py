"""The registry and node-pack discovery through the ``reelgraph.nodes`` entry-point group.

Discovery tests build fake installed distributions (``*.dist-info`` folders with METADATA and
entry_points.txt, plus a module) in tmp_path and put them on sys.path, so importlib.metadata finds
them exactly as it finds a pip-installed pack.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
import types

import pytest
from reelgraph import graph
from reelgraph.graph import DeclarationError, Input, Int, Node, Output, Param, Registry, Text
from reelgraph.graph import registry as registry_mod
from reelgraph.graph.registry import BUILTIN_PACK, ENTRY_POINT_GROUP, PackProblem, default_registry

BUILTIN_TYPES = {"text.constant", "text.split", "text.join", "text.template", "number.constant",
                 "number.integer", "number.math", "list.build", "list.length", "list.pick"}


class GreetNode(Node):
    """Greet someone by name."""

    type = "hello.greet"
    version = "1.0.0"

    name = Param(Text, default="world")
    text = Output(Text)

    def run(self, ctx, name):
        return f"hello {name}"


class OtherGreetNode(Node):
    """Another node that claims the same type id."""

    type = "hello.greet"
    version = "1.0.0"

    text = Output(Text)

    def run(self, ctx):
        return "hi"


class CountNode(Node):
    """Count up from a number."""

    type = "hello.count"

    start = Input(Int)
    total = Output(Int)

    def run(self, ctx, start):
        return start + 1


class Abstract(Node):
    """Has no type id: a base class, not a node."""


# ----------------------------------------------------------------------------------------------
# register / get / catalog


def test_empty_registry():
    reg = Registry()
    assert len(reg) == 0 and reg.types() == [] and reg.problems == []
    assert reg.get("hello.greet") is None and "hello.greet" not in reg


def test_register_get_and_iterate():
    reg = Registry()
    assert reg.register(GreetNode, pack="hellopack") is GreetNode
    reg.register(CountNode)
    assert "hello.greet" in reg and len(reg) == 2
    assert reg.get("hello.greet") is GreetNode.spec
    assert reg.types() == ["hello.count", "hello.greet"]
    assert {s.type for s in reg} == {"hello.greet", "hello.count"}
    assert reg.origin("hello.greet") == "hellopack"
    assert reg.origin("hello.count") == "local"
    assert reg.origin("nope.nope") is None


def test_register_works_as_a_decorator():
    reg = Registry()

    @reg.register
    class DecoratedNode(Node):
        """Registered by decorating it."""

        type = "deco.rated"
        out = Output(Text)

        def run(self, ctx):
            return ""

    assert reg.get("deco.rated").cls is DecoratedNode


@pytest.mark.parametrize("thing", [Abstract, Node, int, "hello.greet", GreetNode()])
def test_register_rejects_what_is_not_a_node_class(thing):
    with pytest.raises(DeclarationError, match="is not a node class .*subclass Node and set type"):
        Registry().register(thing)


def test_two_packs_providing_the_same_type_is_an_error():
    reg = Registry()
    reg.register(GreetNode, pack="pack_a")
    with pytest.raises(DeclarationError) as ei:
        reg.register(OtherGreetNode, pack="pack_b")
    msg = str(ei.value)
    assert "'hello.greet'" in msg and "'pack_b'" in msg and "'pack_a'" in msg
    assert "rename one of them" in msg
    assert reg.get("hello.greet").cls is GreetNode  # the first one is kept
    assert reg.origin("hello.greet") == "pack_a"


def test_the_same_pack_may_replace_its_own_node_and_the_same_class_may_come_twice():
    reg = Registry()
    reg.register(GreetNode, pack="pack_a")
    reg.register(OtherGreetNode, pack="pack_a")  # a reload of the same pack
    assert reg.get("hello.greet").cls is OtherGreetNode
    reg.register(OtherGreetNode, pack="pack_b")  # the very same class: no conflict
    assert reg.get("hello.greet").cls is OtherGreetNode


def test_catalog_lists_nodes_by_category_with_their_pack_and_the_problems():
    reg = Registry()
    reg.register(GreetNode, pack="hellopack")
    reg.register(CountNode, pack="hellopack")
    reg.problems.append(PackProblem("broken", "ImportError: nope"))
    cat = reg.catalog()
    assert cat["api_version"] == graph.NODE_API_VERSION
    assert [n["type"] for n in cat["nodes"]] == ["hello.count", "hello.greet"]
    greet = cat["nodes"][1]
    assert greet["pack"] == "hellopack" and greet["tooltip"] == "Greet someone by name."
    assert greet["category"] == "hello"
    assert greet["params"][0]["name"] == "name" and greet["params"][0]["default"] == "world"
    assert cat["problems"] == ["node pack 'broken' was skipped: ImportError: nope"]


def test_catalog_of_the_builtin_nodes_is_json_serialisable():
    import json

    cat = default_registry().catalog()
    assert BUILTIN_TYPES <= {n["type"] for n in cat["nodes"]}
    json.dumps(cat)
    categories = [n["category"] for n in cat["nodes"]]
    assert categories == sorted(categories)


def test_catalog_with_a_required_param():
    class NeedsNode(Node):
        """Needs a number."""

        type = "hello.needs"
        value = Param(Int)
        out = Output(Int)

        def run(self, ctx, value):
            return value

    reg = Registry()
    reg.register(NeedsNode)
    (param,) = reg.catalog()["nodes"][0]["params"]
    assert param["required"] is True and param["default"] is None


# ----------------------------------------------------------------------------------------------
# load_pack: what an entry point may name


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def test_load_pack_from_a_module_with_NODES():
    reg = Registry()
    assert reg.load_pack("p", _module("p", NODES=[GreetNode, CountNode])) == 2
    assert reg.types() == ["hello.count", "hello.greet"] and reg.origin("hello.count") == "p"


def test_load_pack_from_a_module_takes_only_the_node_classes_it_defines():
    mod = _module("somepack_mod")
    src = textwrap.dedent('''
        from reelgraph.graph import Node, Output, Text
        from test_registry import GreetNode  # imported, not defined here: not part of this pack

        class Base(Node):
            """No type: abstract."""

        class LocalNode(Base):
            """Defined here."""
            type = "some.local"
            out = Output(Text)
            def run(self, ctx):
                return ""
    ''')
    exec(compile(src, "somepack_mod.py", "exec"), mod.__dict__)
    reg = Registry()
    assert reg.load_pack("some", mod) == 1
    assert reg.types() == ["some.local"]


def test_load_pack_from_a_class_an_iterable_or_a_function():
    reg = Registry()
    assert reg.load_pack("a", GreetNode) == 1
    assert reg.load_pack("b", (c for c in [CountNode])) == 1
    reg2 = Registry()
    assert reg2.load_pack("c", lambda: [GreetNode, CountNode]) == 2


def test_load_pack_with_no_nodes_is_an_error():
    with pytest.raises(DeclarationError, match="provides no node classes"):
        Registry().load_pack("empty", _module("empty_mod"))
    with pytest.raises(DeclarationError, match="provides no node classes"):
        Registry().load_pack("empty", [])


def test_a_conflicting_pack_is_not_half_loaded():
    reg = Registry()
    reg.register(GreetNode, pack="first")

    class UniqueNode(Node):
        """Only this pack has it."""

        type = "second.unique"
        out = Output(Text)

        def run(self, ctx):
            return ""

    with pytest.raises(DeclarationError, match="already provided by pack 'first'"):
        reg.load_pack("second", [UniqueNode, OtherGreetNode])
    assert "second.unique" not in reg  # all or nothing
    assert reg.get("hello.greet").cls is GreetNode


def test_a_pack_with_a_non_node_entry_is_not_half_loaded():
    reg = Registry()
    with pytest.raises(DeclarationError, match="is not a node class"):
        reg.load_pack("mixed", [GreetNode, object])
    assert len(reg) == 0


# ----------------------------------------------------------------------------------------------
# Discovery through entry points (fake installed distributions)


_counter = itertools.count()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path where fake distributions are installed; cleans their modules up."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    modules: list[str] = []

    def install(dist: str, module_source: str | None, *, entry: str | None = None,
                ep_name: str | None = None, module: str | None = None) -> str:
        """Install distribution ``dist`` 0.1 whose entry point names a module with ``module_source``."""
        mod = module or f"{dist}_nodes_{next(_counter)}"
        info = root / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{ep_name or dist} = {entry or mod}\n")
        (info / "RECORD").write_text("")
        if module_source is not None:
            (root / f"{mod}.py").write_text(textwrap.dedent(module_source))
        modules.append(mod)
        return mod

    yield install
    for name in modules:
        sys.modules.pop(name, None)


GOOD_PACK = '''
    from reelgraph.graph import Int, Node, Output, Param, Text

    class ShoutNode(Node):
        """Shout a text."""
        type = "fake.shout"
        version = "0.1.0"
        text = Param(Text, default="hey")
        out = Output(Text)
        def run(self, ctx, text):
            return text.upper()

    class SevenNode(Node):
        """Always seven."""
        type = "fake.seven"
        out = Output(Int)
        def run(self, ctx):
            return 7
'''


def _problem(reg: Registry, pack: str) -> PackProblem:
    found = [p for p in reg.problems if p.pack == pack]
    assert len(found) == 1, reg.problems
    return found[0]


def test_discover_registers_an_installed_pack(site):
    site("fakepack", GOOD_PACK)
    from importlib.metadata import entry_points

    assert "fakepack" in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    reg = Registry().discover()
    assert {"fake.shout", "fake.seven"} <= set(reg.types())
    assert reg.origin("fake.shout") == "fakepack"
    assert not [p for p in reg.problems if p.pack == "fakepack"]
    assert BUILTIN_TYPES <= set(reg.types())  # the built-in pack is always there
    assert reg.origin("text.constant") == BUILTIN_PACK
    # the discovered node is a working node class
    assert reg.get("fake.shout").cls().run(None, text="hi") == "HI"


def test_discovered_pack_nodes_validate_and_run(site, tmp_path):
    site("fakepack", GOOD_PACK)
    reg = Registry().discover()
    result = graph.run({"nodes": {"s": {"type": "fake.shout", "params": {"text": "fox"}}}},
                       registry=reg, cache=False)
    assert result.ok and result.value("s.out") == "FOX"


def test_entry_point_naming_a_list_attribute(site):
    mod = site("listpack", textwrap.dedent(GOOD_PACK) + "\nPACK = [ShoutNode]\n", entry="listpack_nodes_x:PACK",
               module="listpack_nodes_x")
    assert mod == "listpack_nodes_x"
    reg = Registry().discover()
    assert "fake.shout" in reg and "fake.seven" not in reg


def test_a_pack_raising_on_import_is_reported_and_skipped(site):
    site("goodpack", GOOD_PACK)
    site("boompack", "raise RuntimeError('the pack exploded')\n")
    reg = Registry().discover()
    problem = _problem(reg, "boompack")
    assert "RuntimeError: the pack exploded" in problem.message
    assert str(problem).startswith("node pack 'boompack' was skipped:")
    assert "fake.shout" in reg and BUILTIN_TYPES <= set(reg.types())
    assert "node pack 'boompack' was skipped" in " ".join(reg.catalog()["problems"])


def test_an_entry_point_to_a_missing_module_is_reported_and_skipped(site):
    site("goodpack", GOOD_PACK)
    site("ghostpack", None, entry="no_such_module_anywhere_123")
    reg = Registry().discover()
    problem = _problem(reg, "ghostpack")
    assert "ModuleNotFoundError" in problem.message and "no_such_module_anywhere_123" in problem.message
    assert "fake.seven" in reg


def test_an_entry_point_to_a_missing_attribute_is_reported_and_skipped(site):
    site("goodpack", GOOD_PACK)
    site("attrpack", "X = 1\n", entry="attrpack_mod_q:NOT_THERE", module="attrpack_mod_q")
    reg = Registry().discover()
    assert "AttributeError" in _problem(reg, "attrpack").message
    assert "fake.seven" in reg


def test_a_pack_providing_no_nodes_is_reported_and_skipped(site):
    site("goodpack", GOOD_PACK)
    site("emptypack", "from reelgraph.graph import Node\nVALUE = 3\n")
    reg = Registry().discover()
    assert "provides no node classes" in _problem(reg, "emptypack").message
    assert "fake.shout" in reg


def test_a_pack_with_a_bad_declaration_is_reported_with_the_declaration_error(site):
    site("goodpack", GOOD_PACK)
    site("badpack", '''
        from reelgraph.graph import Node, Output, Text

        class BadNode(Node):
            """Bad id."""
            type = "NotAnId"
            out = Output(Text)
            def run(self, ctx):
                return ""
    ''')
    reg = Registry().discover()
    message = _problem(reg, "badpack").message
    assert message.startswith("DeclarationError: node class BadNode: type: 'NotAnId'")
    assert "fake.shout" in reg


def test_a_pack_shadowing_a_builtin_node_is_skipped_whole(site):
    site("shadowpack", '''
        from reelgraph.graph import Node, Output, Param, Text

        class MyConstantNode(Node):
            """Claims the built-in text.constant id."""
            type = "text.constant"
            out = Output(Text)
            def run(self, ctx):
                return "shadow"

        class ExtraNode(Node):
            """Would be fine on its own."""
            type = "shadow.extra"
            out = Output(Text)
            def run(self, ctx):
                return ""
    ''')
    reg = Registry().discover()
    message = _problem(reg, "shadowpack").message
    assert "'text.constant'" in message and "already provided by pack 'reelgraph.nodes'" in message
    assert reg.origin("text.constant") == BUILTIN_PACK
    assert reg.get("text.constant").cls.__module__ == "reelgraph.nodes.text.constant"
    assert "shadow.extra" not in reg  # a skipped pack leaves nothing behind


def test_two_installed_packs_with_the_same_type_id(site):
    site("alphapack", GOOD_PACK)
    site("betapack", GOOD_PACK)
    reg = Registry().discover()
    problems = [p for p in reg.problems if p.pack in ("alphapack", "betapack")]
    assert len(problems) == 1
    loser = problems[0].pack
    winner = ({"alphapack", "betapack"} - {loser}).pop()
    assert reg.origin("fake.shout") == winner and reg.origin("fake.seven") == winner
    assert "already provided by pack" in problems[0].message


def test_discover_without_builtins(site):
    site("fakepack", GOOD_PACK)
    reg = Registry().discover(include_builtin=False)
    assert set(reg.types()) == {"fake.shout", "fake.seven"}


def test_a_broken_builtin_import_is_reported_not_fatal(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name == BUILTIN_PACK:
            raise ImportError("simulated")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(registry_mod.importlib, "import_module", fake_import)
    reg = Registry().discover()
    assert "ImportError: simulated" in _problem(reg, BUILTIN_PACK).message


def test_the_builtin_entry_point_is_not_loaded_twice():
    reg = Registry().discover()
    assert not [p for p in reg.problems if p.pack in ("builtin", BUILTIN_PACK)]
    assert BUILTIN_TYPES <= set(reg.types())
    assert {reg.origin(t) for t in BUILTIN_TYPES} == {BUILTIN_PACK}


def test_default_registry_is_shared_and_has_the_builtins():
    reg = default_registry()
    assert reg is default_registry()
    assert BUILTIN_TYPES <= set(reg.types())


def test_module_level_register_adds_to_the_default_registry(monkeypatch):
    fresh = Registry()
    monkeypatch.setattr(registry_mod, "_default", fresh)
    assert graph.register(GreetNode) is GreetNode
    assert default_registry() is fresh
    assert fresh.origin("hello.greet") == "local"
