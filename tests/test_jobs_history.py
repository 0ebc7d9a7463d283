"""One job history for every way of running: the editor's runs go through the run driver, so they are
jobs that `reelgraph jobs` and the service's API show, with their outputs — even with no server up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from reelgraph import graph
from reelgraph.ui.cli import cli
from reelgraph.ui.service.app import create_app
from reelgraph.ui.session import Editor

RESOURCES = Path(__file__).parent / "resources" / "jobs"


@pytest.fixture
def editor_job(tmp_path, monkeypatch):
    """An editor run of a small keyframe workflow; the data folder is the user's (REELGRAPH_DATA_DIR)."""
    monkeypatch.delenv("REELGRAPH_SERVER", raising=False)
    monkeypatch.setenv("REELGRAPH_SERVER", "http://127.0.0.1:9")  # a port nothing listens on
    editor = Editor(tmp_path / "workspace", cache=tmp_path / "cache")
    run, state = editor.run_blocking(json.loads((RESOURCES / "tiny_clip.json").read_text()), "tab-1")
    assert state["status"] == "done"
    yield run.id
    editor.jobs.close()


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_an_editor_run_is_a_job_in_the_history(editor_job):
    store = graph.JobStore(graph.default_data_dir() / "jobs.db")
    try:
        job = store.get(editor_job)
        assert job["source"] == "editor" and job["status"] == "succeeded" and job["owner"] == "local"
        assert job["state"]["outputs"]["clip.video"]["type"] == "video"
    finally:
        store.close()


def test_reelgraph_jobs_reads_the_local_history_when_no_service_answers(editor_job, tmp_path, monkeypatch):
    monkeypatch.delenv("REELGRAPH_SERVER")  # the default address, where no service runs in this test
    monkeypatch.setattr("reelgraph.client.DEFAULT_URL", "http://127.0.0.1:9")
    listed = invoke("jobs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert "reading the job history" in listed.stderr
    assert [j["id"] for j in json.loads(listed.stdout)] == [editor_job]

    shown = invoke("jobs", "show", editor_job, "--json")
    assert json.loads(shown.stdout)["nodes"]["clip"]["status"] == "done"

    out = tmp_path / "got.mp4"
    fetched = invoke("jobs", "outputs", editor_job, "-o", str(out))
    assert fetched.exit_code == 0, fetched.output
    assert out.stat().st_size > 0

    events = invoke("jobs", "events", editor_job)
    kinds = [json.loads(line)["event"] for line in events.stdout.splitlines()]
    assert kinds[0] == "job_queued" and kinds[-1] == "job_finished"

    cancel = invoke("jobs", "cancel", editor_job)
    assert cancel.exit_code == 2 and "start one with `reelgraph serve`" in cancel.stderr  # only a service cancels


def test_the_service_shows_the_editors_runs(editor_job, tmp_path):
    runner = graph.JobRunner(graph.default_data_dir(), graph.Cache(tmp_path / "cache"), workers=1).start()
    try:
        app = create_app(runner, workspace=tmp_path / "ws", webhook_key=b"k" * 32)
        with TestClient(app, client=("127.0.0.1", 5000)) as client:
            assert editor_job in [j["id"] for j in client.get("/api/jobs").json()["jobs"]]
            assert client.get(f"/api/jobs/{editor_job}/outputs/clip.video").status_code == 200
        app.state.webhooks.close()
    finally:
        runner.close()
