"""Hostile or careless node packs: the built-in nodes always win, and a pack that misbehaves while it
loads (shadows built-ins, exits the program, raises a BaseException) is reported and skipped — every
command keeps working and ``reelgraph nodes`` says which pack was skipped and what to do.

Packs are fake installed distributions (a ``*.dist-info`` folder with ``entry_points.txt`` and a
module) in tmp_path on sys.path, found by importlib.metadata exactly as a pip-installed pack is.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from reelgraph import graph
from reelgraph.graph import registry as registry_mod
from reelgraph.graph.registry import BUILTIN_PACK, ENTRY_POINT_GROUP, Registry
from reelgraph.ui.cli import cli

_counter = itertools.count()

SHADOW_PACK = '''
    from reelgraph.graph import Node, Output, Text

    class MyConstantNode(Node):
        """Claims the built-in text.constant id."""
        type = "text.constant"
        out = Output(Text)
        def run(self, ctx):
            return "shadow"

    class MyJoinNode(Node):
        """Claims the built-in text.join id."""
        type = "text.join"
        out = Output(Text)
        def run(self, ctx):
            return "shadow"

    class ExtraNode(Node):
        """Would be fine on its own."""
        type = "shadow.extra"
        out = Output(Text)
        def run(self, ctx):
            return ""
'''

SELF_REGISTERING_PACK = '''
    from reelgraph import graph
    from reelgraph.graph import Node, Output, Text

    @graph.register
    class SelfNode(Node):
        """Registers itself."""
        type = "selfreg.node"
        out = Output(Text)
        def run(self, ctx):
            return ""
'''

GOOD_PACK = '''
    from reelgraph.graph import Node, Output, Text

    class ShoutNode(Node):
        """Shout."""
        type = "fake.shout"
        out = Output(Text)
        def run(self, ctx):
            return "HEY"
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Install fake distributions whose ``reelgraph.nodes`` entry point names a module."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    modules: list[str] = []

    def install(dist: str, module_source: str, *, ep_name: str | None = None) -> str:
        mod = f"{dist}_packmod_{next(_counter)}"
        info = root / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{ep_name or dist} = {mod}\n")
        (info / "RECORD").write_text("")
        (root / f"{mod}.py").write_text(textwrap.dedent(module_source))
        modules.append(mod)
        return mod

    yield install
    for name in modules:
        sys.modules.pop(name, None)


def _problems(reg: Registry, dist: str) -> list[str]:
    return [str(p) for p in reg.problems if dist in str(p)]


def _builtin_constant_is_intact(reg: Registry) -> None:
    assert reg.origin("text.constant") == BUILTIN_PACK
    assert reg.get("text.constant").cls.__module__ == "reelgraph.nodes.text.constant"


# ----------------------------------------------------------------------------------------------
# Built-in nodes always win


def test_a_pack_whose_entry_point_is_named_like_the_builtin_pack_cannot_replace_builtin_nodes(site):
    site("evilpack", SHADOW_PACK, ep_name=BUILTIN_PACK)
    reg = Registry().discover()
    _builtin_constant_is_intact(reg)
    assert reg.get("text.join").cls.__module__.startswith("reelgraph.nodes.")
    assert "shadow.extra" not in reg  # skipped whole
    (problem,) = _problems(reg, "evilpack")
    assert "'text.constant'" in problem and "'text.join'" in problem
    assert "built-in" in problem and "rename" in problem


def test_two_distributions_with_the_same_entry_point_name_do_not_replace_each_others_nodes(site):
    site("firstpack", GOOD_PACK, ep_name="nodes")
    site("secondpack", GOOD_PACK.replace('"HEY"', '"OTHER"'), ep_name="nodes")
    reg = Registry().discover()
    winner = reg.get("fake.shout").cls
    problems = [str(p) for p in reg.problems if "fake.shout" in str(p)]
    assert len(problems) == 1, reg.problems  # the clash is reported, not silently resolved
    loser = "secondpack" if "secondpack" in problems[0] else "firstpack"
    assert loser not in winner.__module__


def test_a_clash_with_builtin_nodes_names_the_pack_every_clashing_type_id_and_the_fix(site):
    site("shadowpack", SHADOW_PACK)
    reg = Registry().discover()
    _builtin_constant_is_intact(reg)
    (problem,) = _problems(reg, "shadowpack")
    assert problem.startswith("node pack 'shadowpack' was skipped:")
    assert "'text.constant'" in problem and "'text.join'" in problem
    assert "rename" in problem and "type ids" in problem


# ----------------------------------------------------------------------------------------------
# A pack that ends the program or raises a BaseException while it is imported


@pytest.mark.parametrize("body, shown", [
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("raise SystemExit('bye')\n", "SystemExit"),
    ("class Stop(BaseException):\n    pass\nraise Stop('halt')\n", "Stop: halt"),
    ("raise GeneratorExit()\n", "GeneratorExit"),
])
def test_a_pack_ending_the_program_at_import_is_reported_and_skipped(site, body, shown):
    site("goodpack", GOOD_PACK)
    site("exitpack", body)
    reg = Registry().discover()
    (problem,) = _problems(reg, "exitpack")
    assert shown in problem
    assert "fake.shout" in reg
    _builtin_constant_is_intact(reg)


def test_a_keyboard_interrupt_while_a_pack_loads_still_interrupts(site):
    site("ctrlcpack", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        Registry().discover()


def test_a_pack_raising_an_exception_whose_str_fails_is_reported(site):
    site("uglypack", '''
        class Ugly(Exception):
            def __str__(self):
                raise ValueError("no text for you")
        raise Ugly()
    ''')
    reg = Registry().discover()
    (problem,) = _problems(reg, "uglypack")
    assert "Ugly" in problem


def test_a_pack_registering_itself_at_import_does_not_hang_discovery(site, tmp_path):
    """A pack may call ``graph.register`` at import time (as scripts do), which asks for the default
    registry while discovery is building it. Run in a fresh process: before the fix it deadlocked."""
    site("selfpack", SELF_REGISTERING_PACK)
    script = ("from reelgraph import graph\n"
              "reg = graph.default_registry()\n"
              "print(reg.origin('selfreg.node'), reg.origin('text.constant'))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site-packages"), *sys.path])}
    try:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("default_registry() deadlocked while a pack registered itself at import")
    assert done.returncode == 0, done.stderr
    origin, builtin = done.stdout.split()
    assert origin != "None" and builtin == BUILTIN_PACK


def test_every_command_still_works_and_nodes_warns_about_the_skipped_pack(site, monkeypatch):
    monkeypatch.setattr(registry_mod, "_default", None)
    site("exitpack", "import sys\nsys.exit(3)\n")
    site("shadowpack", SHADOW_PACK)
    result = CliRunner().invoke(cli, ["nodes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "text.constant" in result.stdout
    assert "warning: node pack 'exitpack' was skipped: SystemExit" in result.stderr
    assert "warning: node pack 'shadowpack' was skipped:" in result.stderr
    catalog = graph.default_registry().catalog()
    assert any("exitpack" in p for p in catalog["problems"])
