"""The job commands of the command line: `reelgraph submit`, `reelgraph jobs ...` against a real
job service (uvicorn in a thread, see test_client.py), and `reelgraph batch`, in process or through
the service. Exit codes as for `reelgraph run`: 0 done, 1 failed, 2 invalid, 130 cancelled.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import free_port
from reelgraph.graph.jobs import JobStore
from reelgraph.ui.cli import cli
from test_client import service, token_service  # noqa: F401 - the service fixtures

JOBS = Path(__file__).parent / "resources" / "jobs"
GREET = JOBS / "greet.json"


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"REELGRAPH_SERVER": None, "REELGRAPH_TOKEN": None,
                                                                **(env or {})}, catch_exceptions=False)


def submitted(service, *args) -> str:  # noqa: F811
    r = invoke("submit", GREET, "--server", service.url, *args)
    assert r.exit_code == 0, r.stderr
    return r.stdout.strip()


# ------------------------------------------------------------------------------ serve

def test_serve_create_token_prints_a_token_and_stores_only_its_hash(tmp_path):
    r = invoke("serve", "--create-token", "alice", "--data", tmp_path / "data")
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip()
    store = JobStore(tmp_path / "data" / "jobs.db")
    try:
        assert store.token_owner(hashlib.sha256(token.encode()).hexdigest()) == "alice"
    finally:
        store.close()
    assert token.encode() not in (tmp_path / "data" / "jobs.db").read_bytes()


def test_serve_beyond_loopback_without_a_token_refuses_in_one_line(tmp_path):
    r = invoke("serve", "--host", "0.0.0.0", "--port", free_port(), "--data", tmp_path / "data")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: refusing to listen on 0.0.0.0") and r.stderr.count("\n") == 1


def test_serve_without_fastapi_says_which_extra_to_install(tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    r = invoke("serve", "--data", tmp_path / "data")
    assert r.exit_code == 1 and "pip install 'reelgraph[service]'" in r.stderr


# ------------------------------------------------------------------------------ submit

def test_submit_prints_the_job_id_and_queues_it(service):  # noqa: F811
    job_id = submitted(service)
    assert job_id.startswith("j")
    assert service.client.wait(job_id, timeout=60)["status"] == "succeeded"


def test_submit_wait_o_writes_the_output_with_the_values_set(service, tmp_path):  # noqa: F811
    out = tmp_path / "greeting.txt"
    r = invoke("submit", GREET, "--server", service.url, "--set", "who.text=Ann", "--wait", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert out.read_text() == "Hello Ann"
    assert r.stdout.strip().startswith("j") and f"wrote {out}" in r.stderr


def test_submit_set_reads_a_value_from_a_file(service, tmp_path):  # noqa: F811
    (tmp_path / "who.txt").write_text("Filed")
    r = invoke("submit", GREET, "--server", service.url, "--set", f"who.text=@{tmp_path / 'who.txt'}",
               "-o", tmp_path / "o.txt")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "o.txt").read_text() == "Hello Filed"


def test_submit_wait_of_a_failing_job_exits_1_with_the_node_error(service):  # noqa: F811
    r = invoke("submit", JOBS / "failing.json", "--server", service.url, "--wait")
    assert r.exit_code == 1
    assert "div" in r.stderr and "failed" in r.stderr


def test_submit_of_an_invalid_workflow_exits_2_naming_the_node_and_field(service):  # noqa: F811
    r = invoke("submit", GREET, "--server", service.url, "--set", "greet.nope=1")
    assert r.exit_code == 2
    assert "greet.nope" in r.stderr
    assert service.client.list() == []


def test_submit_without_a_service_says_how_to_start_one():
    r = invoke("submit", GREET, "--server", f"http://127.0.0.1:{free_port()}")
    assert r.exit_code == 2
    assert "no reelgraph service at" in r.stderr and "reelgraph serve" in r.stderr


def test_submit_finds_the_server_in_reelgraph_server(service):  # noqa: F811
    r = invoke("submit", GREET, env={"REELGRAPH_SERVER": service.url})
    assert r.exit_code == 0, r.stderr
    assert service.client.get(r.stdout.strip())["id"] == r.stdout.strip()


# ------------------------------------------------------------------------------ jobs

def test_jobs_list_shows_each_job_with_its_status(service):  # noqa: F811
    job_id = submitted(service)
    service.client.wait(job_id, timeout=60)
    r = invoke("jobs", "list", "--server", service.url)
    assert r.exit_code == 0
    assert job_id in r.stdout and "succeeded" in r.stdout
    as_json = json.loads(invoke("jobs", "list", "--server", service.url, "--json").stdout)
    assert [j["id"] for j in as_json] == [job_id]


def test_jobs_show_lists_the_node_states_and_outputs(service):  # noqa: F811
    job_id = submitted(service)
    service.client.wait(job_id, timeout=60)
    r = invoke("jobs", "show", job_id, "--server", service.url)
    assert r.exit_code == 0
    assert "succeeded" in r.stdout and "greet" in r.stdout and "Hello world" in r.stdout


def test_jobs_show_of_a_failed_job_gives_its_errors_with_their_fix(service):  # noqa: F811
    r = invoke("submit", JOBS / "failing.json", "--server", service.url, "--wait")
    job_id = r.stdout.strip()
    shown = invoke("jobs", "show", job_id, "--server", service.url)
    errors = service.client.get(job_id)["errors"]
    assert errors and errors[0]["fix"]
    assert "error" in shown.stdout and errors[0]["fix"][:30] in " ".join(shown.stdout.split())


def test_jobs_show_of_an_unknown_id_exits_2_saying_so(service):  # noqa: F811
    r = invoke("jobs", "show", "jnosuchjob", "--server", service.url)
    assert r.exit_code == 2 and "error" in r.stderr


def test_jobs_cancel_cancels_a_queued_job(service):  # noqa: F811
    service.runner.pause()
    job_id = submitted(service)
    r = invoke("jobs", "cancel", job_id, "--server", service.url)
    assert r.exit_code == 0 and "cancelled" in r.stdout
    assert service.client.get(job_id)["status"] == "cancelled"


def test_jobs_events_prints_one_json_line_per_event(service):  # noqa: F811
    job_id = submitted(service)
    service.client.wait(job_id, timeout=60)
    r = invoke("jobs", "events", job_id, "--server", service.url)
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "job_queued" and events[-1]["event"] == "job_finished"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_jobs_events_of_a_job_still_queued_prints_what_happened_so_far(service):  # noqa: F811
    service.runner.pause()
    job_id = submitted(service)
    r = invoke("jobs", "events", job_id, "--server", service.url)
    assert r.exit_code == 0
    assert [json.loads(line)["event"] for line in r.stdout.splitlines()] == ["job_queued"]


def test_the_token_comes_from_reelgraph_token(token_service):  # noqa: F811
    r = invoke("submit", GREET, "--server", token_service.url, env={"REELGRAPH_TOKEN": token_service.token})
    assert r.exit_code == 0, r.stderr
    refused = invoke("jobs", "list", "--server", token_service.url, "--token", "wrong")
    assert refused.exit_code == 2 and "error" in refused.stderr


def test_jobs_outputs_lists_them_and_downloads_with_o(service, tmp_path):  # noqa: F811
    job_id = submitted(service)
    service.client.wait(job_id, timeout=60)
    listed = invoke("jobs", "outputs", job_id, "--server", service.url)
    assert "greet.text" in listed.stdout and "Hello world" in listed.stdout
    r = invoke("jobs", "outputs", job_id, "--server", service.url, "-o", tmp_path / "g.txt")
    assert r.exit_code == 0 and (tmp_path / "g.txt").read_text() == "Hello world"


def test_jobs_delete_removes_the_job(service):  # noqa: F811
    job_id = submitted(service)
    service.client.wait(job_id, timeout=60)
    assert invoke("jobs", "delete", job_id, "--server", service.url).exit_code == 0
    assert service.client.list() == []


# ------------------------------------------------------------------------------ batch

def test_a_batch_of_five_csv_rows_in_process_writes_five_named_outputs_and_a_summary(tmp_path):
    r = invoke("batch", GREET, JOBS / "greet_rows.csv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    names = ["alice", "bob", "carol", "dave", "eve"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [n + ".txt" for n in names]
    assert (tmp_path / "out" / "carol.txt").read_text() == "Hello Carol, the third"
    for name in names:
        assert name in r.stdout
    assert r.stdout.count("succeeded") == 5 and "5 of 5 rows succeeded" in r.stderr


def test_a_bad_row_fails_the_batch_with_exit_2_naming_the_row_and_nothing_runs(tmp_path):
    r = invoke("batch", GREET, JOBS / "greet_bad_row.csv", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert "row 2 (broken): greet.nope" in r.stderr and "nothing was run" in r.stderr
    assert not (tmp_path / "out").exists()


def test_jsonl_rows_of_a_workflow_with_several_outputs_get_a_folder_each(tmp_path):
    r = invoke("batch", JOBS / "two_outputs.json", JOBS / "greet_rows.jsonl", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one", "row-002", "three"]
    assert (tmp_path / "out" / "three" / "hello.text.txt").read_text() == "Hi Three"
    assert (tmp_path / "out" / "row-002" / "bye.text.txt").read_text() == "Bye Two"


def test_an_at_file_cell_reads_a_file_beside_the_rows_file(tmp_path):
    r = invoke("batch", GREET, JOBS / "greet_atfile.csv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "from-file.txt").read_text() == "Hello Filed Name"
    assert (tmp_path / "out" / "plain.txt").read_text() == "Hello Plain"


def test_set_applies_to_every_row_under_the_rows_own_values(tmp_path):
    r = invoke("batch", GREET, JOBS / "greet_rows.csv", "-o", tmp_path / "out", "--set", "greet.template=Hi {a}",
               "--set", "who.text=ignored")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "bob.txt").read_text() == "Hi Bob"


@pytest.mark.parametrize("rows, problem", [
    ("name,who.text\nsame,A\nsame,B\n", "row 2: name 'same' is also the name of row 1"),
    ("name,who.text\n../up,A\n", "row 1: name '../up'"),
    ("name,who.text\nfine,A\nsub/dir,B\n", "row 2: name 'sub/dir': holds '/'"),
    ("name,who\nx,A\n", "column 'who': columns are NODE.PARAM"),
    ("name,who.text\nx,@missing.txt\n", "row 1: who.text: cannot read the file"),
])
def test_rows_that_cannot_name_their_outputs_are_refused_before_anything_runs(tmp_path, rows, problem):
    (tmp_path / "rows.csv").write_text(rows)
    r = invoke("batch", GREET, tmp_path / "rows.csv", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert problem in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_row_without_a_name_is_named_by_its_number(tmp_path):
    (tmp_path / "rows.csv").write_text("name,who.text\nfine,A\n ,B\n")
    r = invoke("batch", GREET, tmp_path / "rows.csv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine.txt", "row-002.txt"]


def test_a_row_that_fails_when_it_runs_exits_1_and_the_summary_says_which(tmp_path):
    (tmp_path / "rows.csv").write_text("name,greet.template\ngood,Hi {a}\nbad,Hi {z\n")
    r = invoke("batch", GREET, tmp_path / "rows.csv", "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert (tmp_path / "out" / "good.txt").read_text() == "Hi world"
    assert not (tmp_path / "out" / "bad.txt").exists()
    bad_line = next(line for line in r.stdout.splitlines() if line.strip().startswith("bad"))
    assert "failed" in bad_line and "greet.template" in bad_line


def test_a_batch_through_the_service_writes_media_outputs_named_by_row(service, tmp_path):  # noqa: F811
    r = invoke("batch", JOBS / "keyframe.json", JOBS / "keyframe_rows.csv", "-o", tmp_path / "out",
               "--server", service.url)
    assert r.exit_code == 0, r.stderr
    for name in ("first", "second"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert {j["name"] for j in service.client.list()} == {"first", "second"}


def test_a_captioned_video_row_gets_its_srt_beside_it(tmp_path):
    r = invoke("batch", JOBS / "captioned_clip.json", JOBS / "captioned_rows.csv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["boat.mp4", "boat.srt"]
    assert "A red boat" in (tmp_path / "out" / "boat.srt").read_text()


def test_a_bad_row_through_the_service_names_the_row_and_queues_nothing(service, tmp_path):  # noqa: F811
    r = invoke("batch", GREET, JOBS / "greet_bad_row.csv", "-o", tmp_path / "out", "--server", service.url)
    assert r.exit_code == 2
    assert "row 2 (broken): greet.nope" in r.stderr
    assert service.client.list() == []


def test_batch_keeps_relative_rows_files_working_from_another_folder(tmp_path, monkeypatch):
    shutil.copytree(JOBS, tmp_path / "jobs")
    monkeypatch.chdir(tmp_path)
    r = invoke("batch", "jobs/greet.json", "jobs/greet_atfile.csv", "-o", "out")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "from-file.txt").read_text() == "Hello Filed Name"
