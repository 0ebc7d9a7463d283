"""The `reelgraph` command line: click's CliRunner for most checks, real processes where they matter
(the console script, two processes sharing a cache, Ctrl-C, plugins found through entry points)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_workflow, resource
from reelgraph.graph import default_registry
from reelgraph.ui.cli import cli
from reelgraph.workflows import path as example_path

OUTLINE = example_path("shot_outline")
TYPED = resource("cli_typed.json")
BUILTIN_TYPES = {"text.constant", "text.template", "text.join", "text.split", "number.constant",
                 "number.integer", "number.math", "list.build", "list.pick", "list.length"}
OUTLINE_NODES = {"story", "style", "describe", "outline", "count", "title"}


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cli-cache"


@pytest.fixture
def invoke(cache):
    """Run the CLI in-process; ``run``/``plan``/``cache`` get ``--cache-dir`` into tmp_path."""
    def _invoke(*args, cache_dir: Path | None = cache, env=None):
        args = [str(a) for a in args]
        if cache_dir is not None and args and args[0] in ("run", "plan"):
            args = [args[0], "--cache-dir", str(cache_dir), *args[1:]]
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return _invoke


def events_of(stdout: str) -> list[dict]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def write_wf(path: Path, nodes: dict, edges=()) -> Path:
    path.write_text(json.dumps(make_workflow(nodes, list(edges))))
    return path


# ---------------------------------------------------------------------------------------------
# run: results on stdout, files with -o

def test_run_prints_the_result(invoke, cache):
    r = invoke("run", OUTLINE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("The Keeper: 3 shots\n\nShot 1: A lighthouse keeper")
    assert "Shot 3: The great lamp turns; far out, a ship answers with its horn (cinematic" in r.stdout
    # progress goes to stderr only
    assert "✓ story" in r.stderr and "✓" not in r.stdout
    assert (cache / "index.db").is_file()


def test_run_output_file_is_written_atomically(invoke, tmp_path):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    out = out_dir / "outline.txt"
    out.write_text("old content that must be replaced")
    r = invoke("run", OUTLINE, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("The Keeper: 3 shots") and text.endswith("cold blue light)\n")
    assert f"wrote {out}" in r.stderr
    assert [p.name for p in out_dir.iterdir()] == ["outline.txt"]  # no .part file left behind
    assert not list(tmp_path.rglob("*.part"))


def test_run_output_into_new_nested_path(invoke, tmp_path):
    out = tmp_path / "a" / "b" / "outline.txt"
    r = invoke("run", OUTLINE, "--output", out, "-q")
    assert r.exit_code == 0, r.stderr
    assert out.read_text().startswith("The Keeper")
    assert r.stderr == ""  # -q: nothing on stderr


def test_run_single_output_into_existing_folder(invoke, tmp_path):
    folder = tmp_path / "outdir"
    folder.mkdir()
    r = invoke("run", OUTLINE, "-o", folder)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["title.text.txt"]
    assert (folder / "title.text.txt").read_text().startswith("The Keeper")


def test_run_several_outputs_print_one_per_line(invoke):
    r = invoke("run", TYPED)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ['{"count.count": 3}', "label.text: alpha x3.0"]


def test_run_several_outputs_write_one_file_each(invoke, tmp_path):
    out = tmp_path / "out"
    r = invoke("run", TYPED, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["count.count.json", "label.text.txt"]
    assert json.loads((out / "count.count.json").read_text()) == 3
    assert (out / "label.text.txt").read_text() == "alpha x3.0"
    assert r.stderr.count("wrote ") == 2


def test_run_several_outputs_to_an_existing_file_is_a_usage_error(invoke, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    r = invoke("run", TYPED, "-o", target)
    assert r.exit_code == 2
    assert "folder" in r.stderr
    assert target.read_text() == "keep me"


# ---------------------------------------------------------------------------------------------
# run --set

@pytest.mark.parametrize("sets, expected", [
    ([], ['{"count.count": 3}', "label.text: alpha x3.0"]),
    (["pick.index=-1"], ['{"count.count": 3}', "label.text: gamma x3.0"]),               # Int
    (["scale.b=0.5"], ['{"count.count": 3}', "label.text: alpha x0.75"]),                # Float
    (["words.skip_empty=false"], ['{"count.count": 4}', "label.text: alpha x3.0"]),      # Bool
    (["words.strip=no", "pick.index=1"], ['{"count.count": 3}', "label.text:  beta x3.0"]),
    (["label.template={b} / {a}"], ['{"count.count": 3}', "label.text: 3.0 / alpha"]),   # Text
    (["words.text=x=1,y=2", "scale.op=add"], ['{"count.count": 2}', "label.text: x=1 x3.5"]),
])
def test_run_set_parses_by_param_type(invoke, sets, expected):
    args = [a for s in sets for a in ("--set", s)]
    r = invoke("run", TYPED, *args)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == expected


def test_run_set_reads_a_file(invoke, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("A fox at dawn\n\nA hare at noon\n", encoding="utf-8")
    r = invoke("run", OUTLINE, "--set", f"story.text=@{script}", "--set", "style.text=pastel")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("The Keeper: 2 shots")
    assert "Shot 1: A fox at dawn (pastel)" in r.stdout
    assert "Shot 2: A hare at noon (pastel)" in r.stdout


def test_run_set_file_relative_to_cwd(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("shots.txt").write_text("Only shot\n")
    r = invoke("run", OUTLINE, "--set", "story.text=@shots.txt")
    assert r.exit_code == 0, r.stderr
    assert "Shot 1: Only shot (" in r.stdout and "1 shots" in r.stdout


@pytest.mark.parametrize("item, names", [
    ("nope.text=x", ["nope.text", "no node 'nope'"]),             # unknown node
    ("words.colour=red", ["words.colour", "no param 'colour'"]),  # unknown param
    ("scale.a=4", ["scale.a", "wired"]),                          # param wired from base.out
    ("pick.index=two", ["pick.index", "Int"]),                    # unparsable Int
    ("scale.b=lots", ["scale.b", "Float"]),                       # unparsable Float
    ("words.strip=maybe", ["words.strip", "Bool"]),               # unparsable Bool
    ("scale.op=modulo", ["scale.op", "modulo"]),                  # parsed, but not a choice
    ("words.text=@missing-file.txt", ["words.text", "missing-file.txt", "cannot read"]),
    ("label.a=x", ["label.a", "no param 'a'"]),                   # an input, not a param
    ("words", ["words", "NODE.PARAM=VALUE"]),                     # not node.param=value
])
def test_run_bad_set_exits_2_naming_node_and_param(invoke, item, names, cache):
    r = invoke("run", TYPED, "--set", item)
    assert r.exit_code == 2
    for name in names:
        assert name in r.stderr
    assert r.stdout == ""
    assert not cache.exists()  # nothing ran, not even the cache was opened


def test_run_several_bad_sets_reported_together(invoke):
    r = invoke("run", TYPED, "--set", "nope.x=1", "--set", "pick.index=two", "--set", "scale.a=1")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["nope.x", "pick.index", "scale.a"]


# ---------------------------------------------------------------------------------------------
# run: cache options

def node_events(events: list[dict], kind: str) -> list[str]:
    return [e["node"] for e in events if e["event"] == kind]


def test_cache_dir_option_and_env_var(invoke, tmp_path, cache):
    r1 = invoke("run", OUTLINE, "--events", "json")
    r2 = invoke("run", OUTLINE, "--events", "json")
    assert set(node_events(events_of(r1.stdout), "node_started")) == OUTLINE_NODES
    assert set(node_events(events_of(r2.stdout), "node_cached")) == OUTLINE_NODES
    assert node_events(events_of(r2.stdout), "node_started") == []
    assert (cache / "index.db").is_file()
    # another --cache-dir starts empty
    r3 = invoke("run", OUTLINE, "--events", "json", cache_dir=tmp_path / "other")
    assert node_events(events_of(r3.stdout), "node_cached") == []
    # without --cache-dir, $REELGRAPH_CACHE_DIR is used
    env_dir = tmp_path / "env-cache"
    r4 = invoke("run", OUTLINE, cache_dir=None, env={"REELGRAPH_CACHE_DIR": str(env_dir)})
    assert r4.exit_code == 0
    assert (env_dir / "index.db").is_file()


def test_no_cache_neither_reads_nor_writes(invoke, cache):
    invoke("run", OUTLINE)  # fill the cache
    r = invoke("run", OUTLINE, "--no-cache", "--events", "json")
    assert r.exit_code == 0, r.stderr
    events = events_of(r.stdout)
    assert node_events(events, "node_cached") == []
    assert set(node_events(events, "node_started")) == OUTLINE_NODES
    assert all(e["cached"] is False for e in events if e["event"] == "node_finished")


def test_no_cache_does_not_create_the_cache(cache, tmp_path):
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    r = run_cli("run", OUTLINE, "--no-cache", "-o", tmp_path / "out.txt", cwd=tmp_path,
                env_extra={"TMPDIR": str(scratch), "REELGRAPH_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.stderr
    assert not cache.exists()
    assert (tmp_path / "out.txt").read_text().startswith("The Keeper")
    assert list(scratch.iterdir()) == []  # its scratch artifact store is removed when the process exits


def test_bad_cache_size_is_a_usage_error(invoke):
    r = invoke("run", OUTLINE, "--cache-size", "lots")
    assert r.exit_code == 2
    assert "--cache-size" in r.stderr


# ---------------------------------------------------------------------------------------------
# --events json

def test_events_json_lines(invoke):
    r = invoke("run", OUTLINE, "--events", "json")
    assert r.exit_code == 0, r.stderr
    events = events_of(r.stdout)  # every line must parse
    assert len(events) == len(r.stdout.strip().splitlines())
    for e in events:
        assert isinstance(e, dict)
        assert {"event", "node", "seconds"} <= set(e)
        assert isinstance(e["seconds"], (int, float)) and e["seconds"] >= 0
        if e["event"] in ("node_finished", "node_cached"):
            assert isinstance(e["cached"], bool)
    assert events[0]["event"] == "run_started" and events[0]["node"] is None
    assert events[-1]["event"] == "run_finished" and events[-1]["node"] is None
    assert events[-1]["status"] == "ok"
    assert events[-1]["outputs"]["title"]["text"].startswith("The Keeper: 3 shots")
    assert set(node_events(events, "node_finished")) == OUTLINE_NODES
    assert len({e["run_id"] for e in events}) == 1
    # describe maps over three shots: one progress event per element
    assert sorted(e["element"] for e in events
                  if e["event"] == "node_progress" and e["node"] == "describe") == [0, 1, 2]
    # started before finished, for every node
    order = [(e["event"], e["node"]) for e in events]
    for n in OUTLINE_NODES:
        assert order.index(("node_started", n)) < order.index(("node_finished", n))


def test_events_json_with_output_file_keeps_stdout_pure(invoke, tmp_path):
    out = tmp_path / "o.txt"
    r = invoke("run", OUTLINE, "--events", "json", "-o", out)
    assert r.exit_code == 0
    events_of(r.stdout)
    assert out.read_text().startswith("The Keeper")


def test_events_json_on_failure(invoke):
    r = invoke("run", resource("cli_failing.json"), "--events", "json")
    assert r.exit_code == 1
    events = events_of(r.stdout)
    failed = {e["node"]: e for e in events if e["event"] == "node_failed"}
    assert set(failed) == {"div", "pick"}
    assert failed["div"]["error"]["field"] == "b"
    assert failed["pick"]["error"]["field"] == "index"
    assert node_events(events, "node_skipped") == ["after"]
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "failed"


# ---------------------------------------------------------------------------------------------
# exit codes

def test_exit_1_when_a_node_fails(invoke, tmp_path):
    out = tmp_path / "never.txt"
    r = invoke("run", resource("cli_failing.json"), "-o", out)
    assert r.exit_code == 1
    assert "error: div.b: cannot divide by zero" in r.stderr
    assert "error: pick.index: index 5 is out of range" in r.stderr
    assert "2 node(s) failed; 1 skipped" in r.stderr
    assert r.stdout == ""
    assert not out.exists()


def test_exit_1_without_cache_does_not_claim_caching(invoke):
    r = invoke("run", resource("cli_failing.json"), "--no-cache")
    assert r.exit_code == 1
    assert "2 node(s) failed; 1 skipped; the rest finished" in r.stderr
    assert "cached" not in r.stderr


def test_exit_1_then_fixed_with_set(invoke, tmp_path):
    r = invoke("run", resource("cli_failing.json"), "--set", "div.b=4", "--set", "pick.index=-1",
               "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    written = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert written == {"after.result.json": "1.25\n", "pick.item.txt": "b", "ok.out.txt": "independent"}


def test_exit_1_math_divide_by_zero_subprocess(tmp_path, cache):
    wf = write_wf(tmp_path / "div.json", {"d": ("number.math", {"a": 3, "b": 0, "op": "divide"})})
    p = run_cli("run", wf, "--cache-dir", cache, cwd=tmp_path)
    assert p.returncode == 1
    assert "d.b" in p.stderr and "divide by zero" in p.stderr
    assert p.stdout == ""


def test_exit_2_invalid_workflow(invoke):
    r = invoke("run", resource("cli_errors.json"))
    assert r.exit_code == 2
    assert "ghost.type" in r.stderr and "did you mean 'text.constant'" in r.stderr
    assert r.stdout == ""


def test_exit_2_malformed_json_with_line_and_column(invoke):
    for cmd in ("run", "validate", "plan"):
        r = invoke(cmd, resource("cli_malformed.json"))
        assert r.exit_code == 2, cmd
        assert "cli_malformed.json" in r.stderr
        assert "line 5, column 35" in r.stderr


def test_exit_2_missing_file(invoke, tmp_path):
    missing = tmp_path / "nowhere.json"
    for cmd in ("run", "validate", "plan"):
        r = invoke(cmd, missing)
        assert r.exit_code == 2, cmd
        assert "no such file" in r.stderr and "nowhere.json" in r.stderr


def test_exit_2_not_a_workflow(invoke, tmp_path):
    p = tmp_path / "list.json"
    p.write_text("[1, 2, 3]")
    r = invoke("validate", p)
    assert r.exit_code == 2
    assert "JSON object" in r.stderr


@pytest.mark.parametrize("args, says", [
    (["run", "--bogus", OUTLINE], "No such option"),
    (["run"], "give one workflow"),
    (["frobnicate"], "No such command"),
    (["nodes", "--yaml"], "No such option"),
    (["run", "--events", "xml", OUTLINE], "--events"),
])
def test_exit_2_usage_errors(invoke, args, says):
    r = invoke(*args, cache_dir=None)
    assert r.exit_code == 2
    assert says in r.stderr
    assert r.stdout == ""


def test_help_and_version(invoke):
    r = invoke("--help", cache_dir=None)
    assert r.exit_code == 0
    for cmd in ("run", "validate", "plan", "nodes", "schema", "cache"):
        assert cmd in r.stdout
    r = invoke("--version", cache_dir=None)
    assert r.exit_code == 0 and re.search(r"\d+\.\d+", r.stdout)


# ---------------------------------------------------------------------------------------------
# validate

def test_validate_shipped_workflow(invoke):
    r = invoke("validate", OUTLINE)
    assert r.exit_code == 0, r.stderr
    assert "valid (6 nodes, 6 edges)" in r.stdout
    assert r.stderr == ""


def test_validate_names_the_cycle(invoke):
    r = invoke("validate", resource("cli_cycle.json"))
    assert r.exit_code == 2
    m = re.search(r"cycle: (\w+) -> (\w+) -> (\w+)", r.stderr)
    assert m, r.stderr
    assert m.group(1) == m.group(3) and {m.group(1), m.group(2)} == {"a", "b"}
    assert r.stderr.strip().splitlines()[0].startswith(m.group(1))


def test_validate_reports_every_error_one_per_line(invoke):
    r = invoke("validate", resource("cli_errors.json"))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) >= 5
    node_ids = ("ghost", "calc", "joiner", "picker")
    for line in lines:
        assert line.split(":")[0].split(".")[0] in node_ids, line
    heads = {line.split(":")[0] for line in lines}
    assert {"ghost.type", "calc.colour", "calc.op", "joiner.items", "picker.index"} <= heads
    assert r.stdout == ""


def test_validate_with_set(invoke):
    r = invoke("validate", TYPED, "--set", "pick.index=2")
    assert r.exit_code == 0
    r = invoke("validate", TYPED, "--set", "pick.index=2.5")
    assert r.exit_code == 2 and "pick.index" in r.stderr


def test_validate_reads_old_format(invoke, tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"version": 0, "name": "proto", "nodes": [
        {"id": "t", "type": "text.constant", "widgets": {"text": "hi"}, "pos": [0, 0]},
        {"id": "j", "type": "text.template", "widgets": {"template": "<{a}>"}}],
        "links": [["t", "out", "j", "a"]]}))
    r = invoke("validate", old)
    assert r.exit_code == 0, r.stderr
    r = invoke("run", old)
    assert r.stdout.strip() == "<hi>"


# ---------------------------------------------------------------------------------------------
# plan

def plan_json(invoke, *args) -> dict[str, dict]:
    r = invoke("plan", OUTLINE, "--json", *args)
    assert r.exit_code == 0, r.stderr
    return {e["node"]: e for e in json.loads(r.stdout)}


def test_plan_before_and_after_a_run(invoke):
    before = plan_json(invoke)
    assert set(before) == OUTLINE_NODES
    assert {e["status"] for e in before.values()} == {"run"}
    assert all({"node", "type", "status", "reason"} <= set(e) for e in before.values())
    assert invoke("run", OUTLINE).exit_code == 0
    after = plan_json(invoke)
    assert {e["status"] for e in after.values()} == {"cached"}
    assert (after["describe"]["calls"], after["describe"]["cached_calls"]) == (3, 3)


def test_plan_after_set_marks_only_downstream(invoke):
    invoke("run", OUTLINE)
    entries = plan_json(invoke, "--set", "style.text=warm light")
    would_run = {n for n, e in entries.items() if e["status"] != "cached"}
    assert would_run == {"style", "describe", "outline", "title"}
    entries = plan_json(invoke, "--set", "outline.separator= / ")
    assert {n for n, e in entries.items() if e["status"] != "cached"} == {"outline", "title"}


def test_plan_set_parses_typed_values(invoke):
    assert invoke("run", TYPED).exit_code == 0
    r = invoke("plan", TYPED, "--json", "--set", "pick.index=1", "--set", "words.strip=true")
    assert r.exit_code == 0, r.stderr
    entries = {e["node"]: e["status"] for e in json.loads(r.stdout)}
    assert entries == {"words": "cached", "pick": "run", "count": "cached", "base": "cached",
                       "scale": "cached", "label": "run"}


def test_plan_table(invoke):
    r = invoke("plan", OUTLINE, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.stderr
    assert "6 of 6 nodes would run" in r.stdout
    for n in OUTLINE_NODES:
        assert n in r.stdout
    invoke("run", OUTLINE)
    r = invoke("plan", OUTLINE, env={"COLUMNS": "200"})
    assert "0 of 6 nodes would run" in r.stdout
    assert "3/3 cached" in r.stdout


def test_plan_runs_nothing(invoke, cache):
    invoke("plan", OUTLINE)
    r = invoke("run", OUTLINE, "--events", "json")
    assert node_events(events_of(r.stdout), "node_cached") == []


def test_plan_invalid_exits_2(invoke):
    r = invoke("plan", resource("cli_cycle.json"))
    assert r.exit_code == 2 and "cycle" in r.stderr


# ---------------------------------------------------------------------------------------------
# nodes, schema, cache

def test_nodes_json_catalog(invoke):
    r = invoke("nodes", "--json", cache_dir=None)
    assert r.exit_code == 0, r.stderr
    catalog = json.loads(r.stdout)
    by_type = {n["type"]: n for n in catalog["nodes"]}
    assert BUILTIN_TYPES <= set(by_type)
    assert catalog["api_version"]
    for n in by_type.values():
        assert n["tooltip"] and n["version"] and n["category"] == n["type"].split(".")[0]
        assert n["outputs"], n["type"]
        for port in n["inputs"] + n["params"] + n["outputs"]:
            assert {"name", "type", "kind", "doc"} <= set(port)
        for param in n["params"]:
            assert "default" in param and "required" in param
    math = by_type["number.math"]
    params = {p["name"]: p for p in math["params"]}
    assert params["a"]["type"] == "Float" and params["a"]["default"] == 0.0
    assert params["op"]["type"] == "Choice" and params["op"]["default"] == "add"
    assert "divide" in params["op"]["choices"]
    assert [o["name"] for o in math["outputs"]] == ["result"]
    tmpl = by_type["text.template"]
    assert [(p["name"], p["type"], p["required"]) for p in tmpl["inputs"]] == \
        [("a", "Text", False), ("b", "Text", False), ("c", "Text", False), ("d", "Text", False)]
    assert tmpl["params"][0]["multiline"] is True and tmpl["params"][0]["wirable"] is False
    split = {p["name"]: p for p in by_type["text.split"]["params"]}
    assert split["skip_empty"]["type"] == "Bool" and split["skip_empty"]["default"] is True
    index = by_type["list.pick"]["params"][0]
    assert (index["name"], index["type"], index["default"]) == ("index", "Int", 0)
    assert by_type["text.join"]["outputs"][0]["type"] == "Text"
    assert by_type["text.split"]["outputs"][0]["type"] == "List[Text]"
    assert by_type["text.split"]["tooltip"] == default_registry().get("text.split").tooltip
    assert catalog["problems"] == []


def test_nodes_table_lists_every_type(invoke):
    r = invoke("nodes", cache_dir=None, env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.stderr
    for type_id in BUILTIN_TYPES:
        assert type_id in r.stdout
    assert "Combine two numbers" in r.stdout


def test_schema_validates_the_shipped_workflow(invoke):
    jsonschema = pytest.importorskip("jsonschema")
    r = invoke("schema", cache_dir=None)
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("shot_outline",):
        validator.validate(json.loads(example_path(name).read_text()))
    for fixture in ("cli_typed.json", "cli_cycle.json", "cli_failing.json"):
        validator.validate(json.loads(resource(fixture).read_text()))
    bad = json.loads(OUTLINE.read_text())
    bad["nodes"]["story"]["colour"] = "red"
    assert list(validator.iter_errors(bad))
    bad = json.loads(OUTLINE.read_text())
    bad["edges"].append({"from": "story", "to": "title.a"})
    assert list(validator.iter_errors(bad))


def test_cache_info_and_clear(invoke, cache):
    invoke("run", OUTLINE)
    r = invoke("cache", "info", "--cache-dir", cache, cache_dir=None)
    assert r.exit_code == 0 and str(cache) in r.stdout and "8 results" in r.stdout
    r = invoke("cache", "clear", "--cache-dir", cache, cache_dir=None)
    assert r.exit_code == 0 and "cleared" in r.stdout
    r = invoke("run", OUTLINE, "--events", "json")
    assert node_events(events_of(r.stdout), "node_cached") == []


# ---------------------------------------------------------------------------------------------
# Real processes

def reelgraph_cmd() -> list[str]:
    script = Path(sys.executable).with_name("reelgraph")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "reelgraph.ui.cli"]


def run_cli(*args, cwd, env_extra=None, module=False, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    cmd = [sys.executable, "-m", "reelgraph.ui.cli"] if module else reelgraph_cmd()
    return subprocess.run([*cmd, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_console_script_and_module_both_run(tmp_path, cache):
    a = run_cli("run", OUTLINE, "--cache-dir", cache, "-q", cwd=tmp_path)
    b = run_cli("run", OUTLINE, "--cache-dir", cache, "-q", cwd=tmp_path, module=True)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("The Keeper")


def test_two_processes_share_the_cache(tmp_path, cache):
    first = run_cli("run", OUTLINE, "--cache-dir", cache, "--events", "json", cwd=tmp_path)
    second = run_cli("run", OUTLINE, "--cache-dir", cache, "--events", "json", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    e1, e2 = events_of(first.stdout), events_of(second.stdout)
    assert set(node_events(e1, "node_started")) == OUTLINE_NODES
    assert node_events(e1, "node_cached") == []
    assert set(node_events(e2, "node_cached")) == OUTLINE_NODES
    assert node_events(e2, "node_started") == []
    assert all(e["cached"] is True for e in e2 if e["event"] == "node_finished")
    assert e1[-1]["outputs"] == e2[-1]["outputs"]
    assert e2[-1]["ran"] == 0 and e2[-1]["cached_nodes"] == 6


def test_env_cache_dir_in_subprocess(tmp_path):
    env_cache = tmp_path / "env-cache"
    p = run_cli("run", OUTLINE, "-q", cwd=tmp_path, env_extra={"REELGRAPH_CACHE_DIR": str(env_cache)})
    assert p.returncode == 0, p.stderr
    assert (env_cache / "index.db").is_file()


SLOW_PACK = '''
import time

from reelgraph.graph import Float, Input, Int, Node, Output, Param, Resources, Text


class SlowNode(Node):
    """Work slowly in small steps, writing a scratch file (for Ctrl-C tests)."""

    type = "slowtest.wait"
    version = "1.0.0"
    resources = Resources(cpu=0)

    steps = Param(Int, default=1000, min=1)
    step_seconds = Param(Float, default=0.05, min=0)
    label = Param(Text, default="")
    after = Input(Text, required=False)
    out = Output(Text)

    def run(self, ctx, steps, step_seconds, label, after):
        scratch = ctx.temp_path(".txt")
        with open(scratch, "w") as f:
            for i in range(steps):
                ctx.progress(i / steps, f"step {i}")
                f.write("x" * 100)
                f.flush()
                time.sleep(step_seconds)
        return label if after is None else after + label
'''


@pytest.fixture
def slow_plugin(tmp_path):
    """A node pack installed the way pip would: a module plus a dist-info with entry points."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / "rg_slowpack.py").write_text(textwrap.dedent(SLOW_PACK))
    (root / "rg_brokenpack.py").write_text("raise ImportError('this pack is broken on purpose')\n")
    dist = root / "rg_slowpack-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rg-slowpack\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[reelgraph.nodes]\nslow = rg_slowpack\nbroken = rg_brokenpack\n")
    return {"PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}


def test_plugin_pack_is_listed_and_broken_pack_reported(tmp_path, slow_plugin):
    p = run_cli("nodes", "--json", cwd=tmp_path, env_extra=slow_plugin)
    assert p.returncode == 0, p.stderr
    catalog = json.loads(p.stdout)
    by_type = {n["type"]: n for n in catalog["nodes"]}
    assert by_type["slowtest.wait"]["pack"] == "slow"
    assert BUILTIN_TYPES <= set(by_type)
    assert any("broken" in problem for problem in catalog["problems"])
    table = run_cli("nodes", cwd=tmp_path, env_extra={**slow_plugin, "COLUMNS": "250"})
    assert table.returncode == 0
    assert "slowtest.wait" in table.stdout
    assert "broken" in table.stderr


def test_ctrl_c_cancels_cleanly(tmp_path, slow_plugin, cache):
    wf = write_wf(tmp_path / "slow.json", {
        "one": ("slowtest.wait", {"label": "1"}),
        "two": ("slowtest.wait", {"label": "2"}),
        "three": ("slowtest.wait", {"label": "3", "steps": 2}),
        "fast": ("text.constant", {"text": "done"}),
    }, [("one.out", "three.after")])
    env = {**os.environ, **slow_plugin}
    proc = subprocess.Popen([*reelgraph_cmd(), "run", str(wf), "--cache-dir", str(cache), "--events", "json"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stdout:
            event = json.loads(line)
            seen.append(event)
            if event["event"] == "node_progress" and event["node"] in ("one", "two"):
                break
        else:
            pytest.fail(f"the run ended before any slow node started: {proc.wait()} {proc.stderr.read()}")
        assert any(e["event"] == "node_started" and e["node"] in ("one", "two") for e in seen)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "cancel" in err.lower()
    assert "Traceback" not in err
    events = seen + events_of(rest)
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "cancelled"
    assert "node_failed" not in {e["event"] for e in events}
    skipped = set(node_events(events, "node_skipped"))
    assert {"one", "two", "three"} <= skipped
    # no half-written files: the scratch files are gone, nothing slow was stored or cached
    assert list((cache / "tmp").iterdir()) == []
    assert [p for p in (cache / "objects").rglob("*") if p.is_file()] == []
    plan = run_cli("plan", wf, "--cache-dir", cache, "--json", cwd=tmp_path, env_extra=slow_plugin)
    assert plan.returncode == 0, plan.stderr
    statuses = {e["node"]: e["status"] for e in json.loads(plan.stdout)}
    assert statuses["one"] == statuses["two"] == statuses["three"] == "run"


def test_a_bad_cache_size_or_unusable_cache_dir_is_a_usage_error(invoke, tmp_path):
    r = invoke("run", str(OUTLINE), env={"REELGRAPH_CACHE_SIZE": "lots"})
    assert r.exit_code == 2
    assert "cannot read size 'lots'" in r.output and "REELGRAPH_CACHE_SIZE" in r.output

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = invoke("run", str(OUTLINE), cache_dir=blocker / "cache")
    assert r.exit_code == 2
    assert "cannot open the cache" in r.output and "--cache-dir" in r.output


def test_events_piped_into_a_reader_that_stops_early_do_not_break_the_run(tmp_path):
    # `reelgraph run ... --events json | head -1`: the run goes on quietly and still writes -o
    proc = subprocess.Popen([*reelgraph_cmd(), "run", str(example_path("single_shot")), "--events", "json",
                             "-o", str(tmp_path / "out.mp4"), "--cache-dir", str(tmp_path / "c")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    _, err = proc.communicate(timeout=120)
    assert json.loads(first)["event"] == "run_started"
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"listener failed" not in err
    assert (tmp_path / "out.mp4").stat().st_size > 0
