"""The editor's translations: ui/i18n/<locale>.json (the interface) and ui/i18n/nodes.<locale>.json
(node titles, tooltips and docs, merged into the catalog by ui/catalog.py).

A key missing from a language falls back to English at run time; these tests keep the shipped
languages complete, so the fallback is for packs and future strings, not for what we ship.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from reelgraph import graph
from reelgraph.ui.catalog import CATEGORIES, build_catalog

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "ui" / "i18n"
SRC = ROOT / "ui" / "frontend" / "src"
LOCALES = ["zh-CN"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# English grammar only ("a" / "an"): a language without articles may leave it out
OPTIONAL_PLACEHOLDERS = {"article"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def strings(locale: str) -> dict[str, str]:
    return json.loads((I18N / f"{locale}.json").read_text(encoding="utf-8"))


def node_strings(locale: str) -> dict:
    return json.loads((I18N / f"nodes.{locale}.json").read_text(encoding="utf-8"))


def used_keys() -> set[str]:
    """Every literal key the frontend passes to t() / tr()."""
    keys: set[str] = set()
    for path in [*SRC.rglob("*.svelte"), *SRC.rglob("*.js")]:
        keys |= set(re.findall(r"\btr?\('([\w.]+)'", path.read_text(encoding="utf-8")))
    return keys


@pytest.mark.parametrize("locale", LOCALES)
def test_every_english_string_has_a_translation_with_the_same_placeholders(locale):
    en, other = strings("en"), strings(locale)
    missing = sorted(set(en) - set(other))
    assert not missing, f"ui/i18n/{locale}.json lacks {missing}: add them (English shows meanwhile)"
    extra = sorted(set(other) - set(en))
    assert not extra, f"ui/i18n/{locale}.json has keys en.json does not: {extra} (a typo, or add them to en.json)"
    for key, text in en.items():
        want, got = set(PLACEHOLDER.findall(text)), set(PLACEHOLDER.findall(other[key]))
        assert want - OPTIONAL_PLACEHOLDERS <= got <= want, \
            f"{locale} {key!r}: {other[key]!r} must use the placeholders of {text!r}"


def test_the_core_words_are_real_chinese_ui_wording():
    zh = strings("zh-CN")
    expected = {"toolbar.run": "运行", "toolbar.stop": "停止", "toolbar.save": "保存", "toolbar.open": "打开",
                "toolbar.examples": "示例", "inspector.params": "参数", "inspector.inputs": "输入",
                "badge.cached": "已缓存", "badge.failed": "失败", "badge.skipped": "已跳过"}
    assert {k: zh[k] for k in expected} == expected
    untranslated = sorted(k for k, v in zh.items() if not CJK.search(v) and v != strings("en")[k])
    assert not untranslated, untranslated
    assert not [k for k, v in zh.items() if v == strings("en")[k] and CJK.search(v) is None], \
        "zh-CN strings copied from English unchanged"


def test_every_key_the_frontend_uses_exists_in_english():
    en = strings("en")
    used = used_keys()
    assert {"toolbar.run", "palette.search", "inspector.params"} <= used, "the frontend no longer reads ui/i18n?"
    # t(key, {n}) reads key_one / key_other
    missing = sorted(k for k in used if k not in en and not {f"{k}_one", f"{k}_other"} <= set(en))
    assert not missing, f"the frontend asks for {missing}, which ui/i18n/en.json lacks"
    # keys built at run time: a badge per run status, a file kind per file param
    for status in ("stale", "queued", "running", "cached", "done", "failed", "skipped", "idle"):
        assert f"badge.{status}" in en
    kinds = {p["file"] for n in graph.default_registry().catalog()["nodes"] for p in n["params"] if p.get("file")}
    assert {f"file.{k}" for k in kinds | {"any"}} <= set(en)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_built_in_node_has_a_translated_title_and_tooltip(locale):
    nodes = graph.default_registry().catalog()["nodes"]
    table = node_strings(locale)["nodes"]
    lacking = sorted(n["type"] for n in nodes
                     if not table.get(n["type"], {}).get("title") or not table[n["type"]].get("tooltip"))
    assert not lacking, f"ui/i18n/nodes.{locale}.json needs a title and tooltip for {lacking}"
    by_type = {n["type"]: n for n in nodes}
    stale = sorted(set(table) - set(by_type))
    assert not stale, f"ui/i18n/nodes.{locale}.json translates node types that do not exist: {stale}"
    for type_id, entry in table.items():
        for group in ("params", "inputs", "outputs"):
            names = {p["name"] for p in by_type[type_id][group]}
            unknown = set(entry.get(group, {})) - names
            assert not unknown, f"{type_id}: {group} {sorted(unknown)} are not ports of this node"
    titles = [e["title"] for e in table.values()]
    assert len(set(titles)) == len(titles), "two node types share a translated title"


# one-letter slots and file extensions read the same in every language
SAME_EVERYWHERE = {"a", "b", "c", "d", "srt"}


def test_every_port_of_a_built_in_node_has_a_translated_label():
    table = node_strings("zh-CN")
    glossary, per_node = table["ports"], table["nodes"]
    lacking = set()
    for n in graph.default_registry().catalog()["nodes"]:
        own = per_node.get(n["type"], {})
        for group in ("inputs", "params", "outputs"):
            for p in n[group]:
                if p["name"] not in glossary and "label" not in own.get(group, {}).get(p["name"], {}):
                    lacking.add(p["name"])
    assert not lacking - SAME_EVERYWHERE, f"add these port names to `ports` in nodes.zh-CN.json: {sorted(lacking)}"
    assert all(CJK.search(v) for v in glossary.values())


def test_every_palette_category_has_a_translated_name():
    cats = node_strings("zh-CN")["categories"]
    assert {c for c, _ in CATEGORIES} <= set(cats)
    assert all(CJK.search(v) for v in cats.values())


def test_the_catalog_sent_to_the_editor_carries_the_translations():
    cat = build_catalog()
    zh = cat["i18n"]["zh-CN"]
    assert zh["nodes"]["image.keyframe"]["title"] == "关键帧"
    assert zh["categories"]["image"] == "图像"
    # English stays the catalog itself: the translation is an overlay, never a replacement
    keyframe = next(n for n in cat["nodes"] if n["type"] == "image.keyframe")
    assert keyframe["title"] == "Keyframe"


def test_a_pack_node_without_a_translation_gets_no_entry_and_shows_in_english():
    cat = build_catalog()
    assert set(cat["i18n"]["zh-CN"]["nodes"]) <= {n["type"] for n in cat["nodes"]}


def test_the_translation_files_ship_in_the_wheel():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "i18n/*.json" in data["reelgraph.ui"]


# ---------------------------------------------------------------------------------------------- run messages
def _word(part, catalog: dict, time_style) -> str:
    if isinstance(part, str):
        return part
    key, values = part
    values = dict(values)
    if isinstance(values.get("time"), (int, float)):
        values["time"] = time_style(values["time"])
    if isinstance(values.get("n"), int):
        key = next((k for k in (f"{key}_{'one' if values['n'] == 1 else 'other'}", key) if k in catalog), key)
    assert key in catalog, f"the session says {key!r}: add it to ui/i18n/*.json"
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), catalog[key])


def _says(target: dict, catalog: dict, sep: str) -> list[str]:
    """``target``'s say in ``catalog``'s words, once per way Python writes a time."""
    from reelgraph.graph import estimates
    styles = (lambda s: f"{s:.1f} s", estimates.fmt_seconds)
    return [sep.join(_word(p, catalog, style) for p in target["say"]) for style in styles]


def test_what_the_editor_says_about_a_run_reads_in_the_pages_language(tmp_path):
    # The status line and the nodes' notes come from Python: in English as `message` (the API, the
    # history) and as `say`, keys the page words in its language. Every key is in every language,
    # and in English it reads exactly as the message does.
    from reelgraph.ui.session import Editor
    editor = Editor(tmp_path / "workspace", cache=tmp_path / "cache")
    wf = json.loads((ROOT / "tests" / "resources" / "editor" / "two_texts.json").read_text())
    states = [editor.check({**wf, "nodes": {}, "edges": []}, "tab"), editor.check(wf, "tab")]
    broken = {**wf, "nodes": {**wf["nodes"], "odd": {"type": "no.such_node"}}}
    states.append(editor.check(broken, "tab"))
    run = editor.start(wf, "tab")
    edited = json.loads(json.dumps(wf))
    edited["nodes"]["hello"]["params"]["text"] = "Goodbye"
    editor.check(edited, "tab")  # edited during the run: its nodes are to run again
    states += list(editor.states(run))
    states += list(editor.states(editor.start(edited, "tab")))
    states += list(editor.states(editor.start(edited, "tab")))  # all from the cache
    states.append(editor.check(edited, "tab"))
    said = [(s, " — ") for s in states] + [(n, " · ") for s in states for n in s["nodes"].values() if n.get("say")]
    keys = {p[0] for target, _ in said for p in target["say"] if not isinstance(p, str)}
    assert {"run.empty", "run.ready", "run.about", "run.problems", "run.done", "run.changed_during",
            "run.node_changed_during", "run.from_cache", "run.all_cached"} <= keys
    en, zh = strings("en"), strings("zh-CN")
    for target, sep in said:
        assert target["message"] in _says(target, en, sep)
        worded = any(not isinstance(p, str) for p in target["say"])  # "0.4 s" alone needs no words
        for chinese in _says(target, zh, sep):
            assert "{" not in chinese and (CJK.search(chinese) or not worded), chinese


# ---------------------------------------------------------------------------------------------- validation issues
def _problem_workflows() -> list[dict]:
    """One small workflow per kind of problem the validator words for the editor."""
    def wf(nodes, edges=()):
        return {"schema": "reelgraph/workflow", "version": 1, "nodes": nodes,
                "edges": [{"from": a, "to": b} for a, b in edges]}
    text = {"type": "text.constant", "params": {"text": "x"}}
    key = {"type": "image.keyframe"}
    return [
        wf({"a": {"type": "text.constnat"}, "b": {"type": "no.such_thing"}}),
        wf({"a": text, "b": text}, [("a.out", "a.out"), ("a.out", "ghost.a"), ("a.out", "b.text"),
                                     ("a.out", "b.nope"), ("a.nope", "key.prompt")]),
        wf({"a": text, "t": {"type": "text.template"}, "k": key},
           [("a.out", "t.a"), ("k.image", "t.a"), ("a.out", "t.zzz")]),
        wf({"a": {"type": "text.constant", "params": {"txet": "x"}}, "k": {**key, "params": {
            "aspect": "5:4", "resolution": 1, "caption": {"no": 1}, "colour": 1}}}),
        wf({"k": key, "t": {"type": "text.template"}}, [("k.image", "t.a")]),
        wf({"t1": {"type": "text.template"}, "t2": {"type": "text.template"}},
           [("t1.text", "t2.a"), ("t2.text", "t1.a")]),
        wf({"skip": {"type": "text.template", "bypass": True}, "k": key,
            "odd": {"type": "text.nosuch", "bypass": True}},
           [("skip.text", "k.prompt"), ("odd.out", "k.label")]),
        wf({"need": {"type": "test.needs_a_count"}, "sink": {"type": "test.sink", "params": {"x": 1}}},
           [("need.out", "sink.nothing"), ("sink.out", "need.x")]),
    ]


def _problem_registry():
    from reelgraph.graph import Int, Node, Output, Param, Registry, Text
    from reelgraph.graph.registry import default_registry

    class NeedsACount(Node):
        """A node with a param that has no default."""
        type = "test.needs_a_count"
        version = "1.0.0"
        count = Param(Int)
        out = Output(Text)

        def run(self, ctx, count):
            return str(count)

    class Sink(Node):
        """A node with no params, no inputs and no outputs."""
        type = "test.sink"
        version = "1.0.0"
        output = True

        def run(self, ctx):
            return None

    reg = Registry()
    for spec in default_registry():
        reg.register(spec.cls, pack="builtin")
    reg.register(NeedsACount, pack="test")
    reg.register(Sink, pack="test")
    return reg


def test_validation_issues_read_in_the_pages_language():
    from reelgraph.ui.session import _issue
    reg = _problem_registry()
    issues = [_issue(i) for flow in _problem_workflows() for i in graph.validate(flow, reg)]
    en, zh = strings("en"), strings("zh-CN")
    keys = set()
    for issue in issues:
        for text, words in zip((issue["message"], issue["fix"]), issue["say"], strict=True):
            if words is None:
                continue
            key, values = words
            keys.add(key)
            assert PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], en[key]) == text, key  # English as before
            chinese = PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], zh[key])
            assert CJK.search(chinese) and "{" not in chinese, (key, chinese)
    worded = {k for k in en if k.startswith("issue.")}
    assert worded - keys == set(), f"never produced by the problem workflows: {sorted(worded - keys)}"
    # every problem says its message, but a bad value's (the param type's own check, English): its fix does
    bad_values = {"aspect", "resolution", "caption"}
    assert all(i["say"][0] for i in issues if i["field"] not in bad_values)
    assert all(i["say"][1] for i in issues if i["field"] in bad_values)
