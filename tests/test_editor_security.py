"""The editor lets no one in and lets nothing exhaust the machine (issue 11).

No tunnel unless asked (and then only with a login); failed logins are throttled per client and
overall; uploads, workflows and request bodies are bounded, with errors that say which setting to
change; a session's finished runs keep only what the page shows; ui/ uses only the engine's public API.
Servers here listen on loopback only; nothing reaches the network.
"""

from __future__ import annotations

import ast
import gc
import json
from pathlib import Path

import gradio as gr
import httpx
import pytest
from browser import free_port
from reelgraph import graph
from reelgraph.ui import app
from reelgraph.ui.session import Editor, EditorError

ROOT = Path(__file__).resolve().parent.parent
EDITOR_WF = Path(__file__).parent / "resources" / "editor" / "two_texts.json"


@pytest.fixture
def launched(monkeypatch):
    """What app.launch() hands to Gradio's launch (which is not run: no server, no tunnel)."""
    seen: dict = {}

    def fake_launch(self, **kwargs):
        seen.update(kwargs)

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    return seen


@pytest.fixture
def serve(tmp_path):
    """Start the editor on a free loopback port; returns its base URL. Closed after the test."""
    started = []

    def start(**kwargs) -> str:
        demo, opts = app.build_app(tmp_path / "ws", cache=tmp_path / "cache", runs_dir=tmp_path / "runs",
                                   **kwargs)
        port = free_port()
        demo.queue(default_concurrency_limit=None).launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **opts)
        started.append(demo)
        return f"http://127.0.0.1:{port}"

    yield start
    for demo in started:
        demo.close()


def login(url: str, user: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/login", data={"username": user, "password": password}, timeout=30)


# ---------------------------------------------------------------------------------------------- share links
def test_gradio_share_in_the_environment_never_opens_a_tunnel(tmp_path, monkeypatch, launched):
    monkeypatch.setenv("GRADIO_SHARE", "true")
    app.launch(workspace=tmp_path)
    assert launched["share"] is False
    _, opts = app.build_app(tmp_path / "ws", cache=tmp_path / "cache")
    assert opts["share"] is False  # embedding: demo.launch(**opts) is just as closed


def test_a_share_link_needs_a_login(tmp_path, launched):
    with pytest.raises(EditorError, match="--auth"):
        app.launch(workspace=tmp_path, share=True)
    assert not launched
    app.launch(workspace=tmp_path, share=True, auth=("ann", "s3cret"))
    assert launched["share"] is True and callable(launched["auth"])


def test_the_cli_share_option_needs_auth(tmp_path, launched):
    from click.testing import CliRunner
    from reelgraph.ui.cli import cli
    res = CliRunner().invoke(cli, ["ui", "--share", "--workspace", str(tmp_path)])
    assert res.exit_code != 0 and "--auth" in res.output and not launched
    res = CliRunner().invoke(cli, ["ui", "--share", "--auth", "ann:s3cret", "--workspace", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert launched["share"] is True


# ---------------------------------------------------------------------------------------------- logins
def test_the_login_check_compares_both_name_and_password():
    check = app.login_check(("ann", "s3cret"))
    assert check("ann", "s3cret")
    assert not check("ann", "wrong") and not check("bob", "s3cret") and not check("", "")


def test_after_five_failed_logins_a_client_must_wait_even_with_the_right_password(serve):
    url = serve(auth=("ann", "s3cret"))
    for _ in range(app.LoginThrottle.FREE_FAILURES):
        assert login(url, "ann", "wrong").status_code == 400
    refused = login(url, "ann", "s3cret")
    assert refused.status_code == 429
    assert "too many failed logins; wait" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_successful_login_is_not_throttled_and_clears_the_count(serve):
    url = serve(auth=("ann", "s3cret"))
    for _ in range(3):
        for _ in range(app.LoginThrottle.FREE_FAILURES - 1):
            assert login(url, "ann", "wrong").status_code == 400
        assert login(url, "ann", "s3cret").status_code == 200


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_lockout_doubles_with_each_further_failure_and_ends_when_waited_out():
    clock = Clock()
    throttle = app.LoginThrottle(clock=clock)
    for _ in range(throttle.FREE_FAILURES):
        assert throttle.attempt("10.0.0.1") == 0
    waits = []
    for _ in range(3):
        waits.append(throttle.attempt("10.0.0.1"))
        assert waits[-1] > 0
        clock.now += waits[-1]  # waited it out: one more try is allowed, and fails
        assert throttle.attempt("10.0.0.1") == 0
    assert waits[1] == 2 * waits[0] and waits[2] == 2 * waits[1]
    assert throttle.attempt("10.0.0.2") == 0, "another client is not locked out"


def test_failed_logins_from_many_addresses_lock_logins_overall():
    throttle = app.LoginThrottle(clock=Clock(), overall_failures=12)
    for i in range(3):
        for _ in range(4):  # each address stays under its own limit
            assert throttle.attempt(f"10.0.0.{i}") == 0
    assert throttle.attempt("10.0.0.99") > 0


def test_the_throttle_remembers_a_bounded_number_of_clients():
    throttle = app.LoginThrottle(clock=Clock(), max_clients=50, overall_failures=10**9)
    for i in range(500):
        throttle.attempt(f"10.0.{i // 250}.{i % 250}")
    assert len(throttle) <= 50


# ---------------------------------------------------------------------------------------------- uploads
def test_the_upload_limit_comes_from_the_option_the_environment_or_one_gib(monkeypatch):
    monkeypatch.delenv("REELGRAPH_MAX_UPLOAD", raising=False)
    assert app.upload_limit(None) == 1 << 30
    monkeypatch.setenv("REELGRAPH_MAX_UPLOAD", "2GiB")
    assert app.upload_limit(None) == 2 << 30
    assert app.upload_limit("500MiB") == 500 << 20
    monkeypatch.setenv("REELGRAPH_MAX_UPLOAD", "lots")
    with pytest.raises(ValueError, match="REELGRAPH_MAX_UPLOAD"):
        app.upload_limit(None)


def test_the_cli_passes_max_upload_to_gradio_and_refuses_a_bad_size(tmp_path, launched):
    from click.testing import CliRunner
    from reelgraph.ui.cli import cli
    res = CliRunner().invoke(cli, ["ui", "--max-upload", "lots", "--workspace", str(tmp_path)])
    assert res.exit_code == 2 and "--max-upload" in res.output and not launched
    res = CliRunner().invoke(cli, ["ui", "--max-upload", "3MiB", "--workspace", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert launched["max_file_size"] == 3 << 20


def test_an_upload_over_the_limit_is_refused_by_the_server(serve):
    url = serve(max_upload=1000)
    ok = httpx.post(f"{url}/gradio_api/upload", files={"files": ("a.png", b"x" * 500)}, timeout=30)
    assert ok.status_code == 200
    big = httpx.post(f"{url}/gradio_api/upload", files={"files": ("b.png", b"x" * 5000)}, timeout=30)
    assert big.status_code == 413


def test_importing_or_opening_a_file_over_the_limit_says_which_setting_to_change(tmp_path):
    uploads = tmp_path / "gradio-uploads"
    big = uploads / "abc" / "big.png"
    big.parent.mkdir(parents=True)
    big.write_bytes(b"\x89PNG" + b"x" * 3000)
    editor = Editor(tmp_path / "ws", cache=tmp_path / "cache", max_upload=1000)
    for res in (editor.import_media(str(big), "big.png", uploads), editor.open_file(str(big), "big.png", uploads)):
        assert not res["ok"] and "big.png" in res["error"] and "--max-upload" in res["error"]
    assert not (editor.workspace / "uploads").exists()


# ---------------------------------------------------------------------------------------------- workflow size
def big_workflow(chars: int) -> dict:
    wf = json.loads(EDITOR_WF.read_text())
    wf["nodes"]["hello"]["params"]["text"] = "x" * chars
    return wf


def test_a_workflow_over_the_size_limit_is_refused_with_a_clear_error(tmp_path):
    editor = Editor(tmp_path / "ws", cache=tmp_path / "cache", max_workflow=10_000)
    assert editor.check(big_workflow(5_000), "tab")["issues"] == []
    for value in (big_workflow(20_000), json.dumps(big_workflow(20_000))):
        issues = editor.check(value, "tab")["issues"]
        assert len(issues) == 1 and "too large" in issues[0]["message"]
        with pytest.raises(graph.WorkflowError, match="too large"):
            editor.start(value, "tab")
    res = editor.open_text(json.dumps(big_workflow(20_000)), "huge.json")
    assert not res["ok"] and "huge.json" in res["error"] and "too large" in res["error"]
    assert editor.save(big_workflow(20_000))["ok"] is False


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(serve):
    url = serve(max_workflow=10_000)
    res = httpx.post(f"{url}/gradio_api/queue/join", content=b"{" + b" " * 100_000 + b"}",
                     headers={"content-type": "application/json"}, timeout=30)
    assert res.status_code == 413 and "too large" in res.text


def test_gradio_remembers_a_bounded_number_of_sessions(tmp_path):
    _, opts = app.build_app(tmp_path / "ws", cache=tmp_path / "cache")
    assert opts["state_session_capacity"] <= 1000


# ---------------------------------------------------------------------------------------------- memory
def finish(editor: Editor, run) -> dict:
    *_, last = editor.states(run)
    return last


def alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_finished_runs_keep_no_compiled_graph_and_no_node_values(tmp_path, monkeypatch):
    import reelgraph.ui.session as session
    monkeypatch.setattr(session, "KEEP_SESSIONS", 4)
    editor = Editor(tmp_path / "ws", cache=tmp_path / "cache")
    wf = json.loads(EDITOR_WF.read_text())
    before = alive(graph.CompiledGraph)
    for i in range(10):  # a new tab each time, and the same tab again
        finish(editor, editor.start(wf, f"tab-{i % 6}"))
    assert alive(graph.CompiledGraph) == before
    runs = list(editor._runs.values())
    assert len(runs) <= 4
    for run in runs:
        assert run.result is not None and run.result.values == {}
        assert run.events.empty()
    assert runs[-1].state["nodes"]["greet"]["previews"][0]["text"] == "Hello, world"


def test_a_run_whose_page_went_away_is_stopped_and_releases_its_events(tmp_path):
    from stubnodes import make_registry
    editor = Editor(tmp_path / "ws", cache=tmp_path / "cache", registry=make_registry())
    slow = {"schema": "reelgraph/workflow", "version": 1, "edges": [], "nodes": {
        "first": {"type": "stub.chatty", "params": {"label": "a"}},
        "slow": {"type": "stub.slow", "params": {"steps": 100_000, "step_seconds": 0.01}}}}
    run = editor.start(slow, "tab")
    states = editor.states(run)
    next(states)  # the run is under way (it would take 1000 s)
    states.close()  # the browser closed the tab
    assert run.abandoned and run.done.wait(60), "an abandoned run is cancelled"
    assert run.events.empty() and (run.result is None or run.result.values == {})


# ---------------------------------------------------------------------------------------------- public API
def engine_reach_ins(path: Path) -> list[str]:
    """Imports of the engine's internals in one file: submodules, private names, non-exported names."""
    public = set(graph.__all__)
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    engine_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("reelgraph.graph."):
                    found.append(f"{path.name}:{node.lineno} import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("reelgraph.graph."):
                found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
            elif node.module == "reelgraph.graph":
                for a in node.names:
                    if a.name not in public or a.name.startswith("_"):
                        found.append(f"{path.name}:{node.lineno} from reelgraph.graph import {a.name}")
                    engine_names.add(a.asname or a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in engine_names:
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_the_editor_uses_only_the_engines_public_api():
    found = [r for p in sorted((ROOT / "ui").glob("*.py")) for r in engine_reach_ins(p)]
    assert found == []


def test_the_public_api_check_catches_a_reach_in(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from reelgraph.graph.cache import Cache\nfrom reelgraph.graph import api, Cache as C\n"
                      "import reelgraph.graph.types\nfrom reelgraph.graph import types as t\nt._KINDS\n")
    assert len(engine_reach_ins(sample)) == 4
