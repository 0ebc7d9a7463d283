"""Who may use the job service, and what each owner can see (docs/api.md, "Authentication and isolation")."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat

import pytest
import servicekit
from reelgraph.ui.service.server import ServiceError, create_token, serve, webhook_key
from servicekit import ELSEWHERE, file_wf, sleep_wf


@pytest.fixture
def service(tmp_path, registry):
    yield from servicekit.services(tmp_path, registry)



def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(tmp_path):
    """Tokens for alice and bob in the data folder the service fixture uses."""
    return {name: create_token(tmp_path / "data", name) for name in ("alice", "bob")}


def test_a_server_that_requires_tokens_refuses_a_request_without_one_and_says_how_to_get_one(service):
    svc = service(require_token=True)
    res = svc.client.get("/api/jobs")
    assert res.status_code == 401
    assert "reelgraph serve --create-token NAME" in res.json()["message"]
    assert res.headers["www-authenticate"] == "Bearer"


def test_on_a_loopback_bind_a_request_from_another_machine_still_needs_a_token(service):
    svc = service(client=ELSEWHERE)
    assert svc.client.get("/api/health").status_code == 401


def test_on_a_loopback_bind_a_local_request_without_a_token_is_the_owner_local(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    assert svc.client.get(f"/api/jobs/{job_id}").json()["owner"] == "local"


def test_a_wrong_token_is_401_even_from_this_machine(service, tokens):
    svc = service()
    res = svc.client.get("/api/jobs", headers=bearer("not-a-token"))
    assert res.status_code == 401 and "not known" in res.json()["message"]
    assert svc.client.get("/api/jobs", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_token_makes_its_name_the_owner(service, tokens):
    svc = service(require_token=True)
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}, headers=bearer(tokens["alice"])).json()["id"]
    assert svc.client.get(f"/api/jobs/{job_id}", headers=bearer(tokens["alice"])).json()["owner"] == "alice"


def test_another_owners_job_is_404_for_every_route(service, tokens):
    svc = service(require_token=True)
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf()}, headers=alice).json()["id"]
    svc.wait(job_id)
    for method, url in [("GET", f"/api/jobs/{job_id}"), ("POST", f"/api/jobs/{job_id}/cancel"),
                        ("GET", f"/api/jobs/{job_id}/outputs/img.image"), ("GET", f"/api/jobs/{job_id}/events"),
                        ("DELETE", f"/api/jobs/{job_id}")]:
        res = svc.client.request(method, url, headers=bob)
        assert res.status_code == 404, (method, url, res.status_code)
    assert svc.client.get("/api/jobs", headers=bob).json()["jobs"] == []
    assert svc.client.get(f"/api/jobs/{job_id}", headers=alice).json()["status"] == "succeeded"
    assert svc.client.get(f"/api/jobs/{job_id}/outputs/img.image", headers=alice).status_code == 200


def test_another_owners_batch_is_404(service, tokens):
    svc = service(require_token=True)
    batch = svc.client.post("/api/batches", json={"workflow": sleep_wf(), "rows": [{}]},
                            headers=bearer(tokens["alice"])).json()
    assert svc.client.get(f"/api/batches/{batch['id']}", headers=bearer(tokens["bob"])).status_code == 404
    assert svc.client.get(f"/api/batches/{batch['id']}", headers=bearer(tokens["alice"])).status_code == 200


def test_idempotency_keys_are_per_owner(service, tokens):
    svc = service(require_token=True)
    a = svc.client.post("/api/jobs", json={"workflow": sleep_wf(), "idempotency_key": "k"},
                        headers=bearer(tokens["alice"]))
    b = svc.client.post("/api/jobs", json={"workflow": sleep_wf(), "idempotency_key": "k"},
                        headers=bearer(tokens["bob"]))
    assert (a.status_code, b.status_code) == (201, 201) and a.json()["id"] != b.json()["id"]


def test_each_owner_has_its_own_webhook_secret(service, tokens):
    svc = service(require_token=True)
    a = svc.client.get("/api/webhook-secret", headers=bearer(tokens["alice"])).json()["secret"]
    b = svc.client.get("/api/webhook-secret", headers=bearer(tokens["bob"])).json()["secret"]
    assert len(a) == 64 and a != b


def test_create_token_stores_only_its_hash(tmp_path):
    token = create_token(tmp_path, "ci-bot")
    db = sqlite3.connect(tmp_path / "jobs.db")
    try:
        rows = db.execute("SELECT name, hash FROM tokens").fetchall()
    finally:
        db.close()
    assert rows == [("ci-bot", hashlib.sha256(token.encode()).hexdigest())]
    assert not any(token.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65])
def test_a_token_name_must_be_a_plain_short_name(tmp_path, name):
    with pytest.raises(ServiceError, match="1-64 letters"):
        create_token(tmp_path, name)


def test_serve_refuses_a_public_bind_until_a_token_exists(tmp_path):
    with pytest.raises(ServiceError, match="--create-token"):
        serve(host="0.0.0.0", port=0, data=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "data" / "webhook.key").exists()


def test_the_webhook_key_is_made_once_and_readable_only_by_its_owner(tmp_path):
    key = webhook_key(tmp_path)
    assert len(key) == 32 and webhook_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / "webhook.key").st_mode) == 0o600


@pytest.mark.parametrize("name", ["..", "..secret", "a..b", ".hidden", "a%5Cb", "%2E%2E", "%00x"])
def test_an_upload_name_that_could_leave_the_uploads_folder_is_refused(service, name):
    svc = service()
    res = svc.client.put(f"/api/files/{name}", content=b"x")
    assert res.status_code in (404, 422)
    if res.status_code == 422:
        assert res.json()["issues"][0]["field"] == "path.name"
    assert [p for p in svc.workspace.parent.rglob("*") if p.is_file() and p.read_bytes() == b"x"] == []


def test_an_upload_name_with_a_slash_never_reaches_the_upload_route(service):
    svc = service()
    res = svc.client.put("/api/files/..%2F..%2Fevil.txt", content=b"x")
    assert res.status_code in (404, 422)
    assert list(svc.workspace.parent.rglob("evil.txt")) == []
