"""reelgraph.client: a small Python client of the job service (see docs/api.md).

Only the standard library: a script that submits jobs to a reelgraph server needs no web
framework, no numpy and no reelgraph engine installed beside it.

    from reelgraph.client import Client
    c = Client("http://127.0.0.1:8421")
    job = c.submit("workflows/storyboard_to_clip.json", overrides={"story.text": "A fox"})
    done = c.wait(job)
    c.download(job, "out/")
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

__all__ = ["Client", "ClientError", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8421"
FINAL = ("succeeded", "failed", "cancelled")
_CHUNK = 1 << 16


class ClientError(Exception):
    """An answer of the service that is not a success, or no service at all (``status`` None).

    ``issues`` are the service's problems (``node``, ``field``, ``message``, ``fix``); ``str()``
    lists each one as ``node.field: message — fix``."""

    def __init__(self, status: int | None, message: str, issues: Sequence[Mapping[str, Any]] = ()):
        self.status = status
        self.message = message
        self.issues = [dict(i) for i in issues]
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [self.message] if self.message else []
        # the service's message may already quote its first issue: each issue is said once
        lines += [text for text in map(format_issue, self.issues) if text not in self.message]
        return "\n".join(lines) or f"HTTP {self.status}"


def format_issue(issue: Mapping[str, Any]) -> str:
    """``node.field: message — fix`` (the form ``reelgraph validate`` prints)."""
    where = ".".join(str(issue[k]) for k in ("node", "field") if issue.get(k))
    text = f"{where}: {issue.get('message', '')}" if where else str(issue.get("message", ""))
    if issue.get("fix"):
        text += f" — {issue['fix']}"
    return text


class Client:
    """The job service at ``url``; ``token`` for a server that needs one (``reelgraph serve
    --create-token``); ``timeout`` in seconds for each request (the event stream waits longer)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30):
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not a service address — give one like {DEFAULT_URL}")
        self.url = url.rstrip("/")
        self._parts = parts
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ------------------------------------------------------------------------------ plumbing
    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "reelgraph-client"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def _unreachable(self, reason: object) -> ClientError:
        return ClientError(None, f"no reelgraph service at {self.url} ({reason}) — start one with `reelgraph serve`"
                                 " or pass the right address (--server, $REELGRAPH_SERVER)")

    def _open(self, method: str, path: str, body: Any = None, *, query: Mapping[str, Any] | None = None,
              data: bytes | Any = None, headers: Mapping[str, str] | None = None, timeout: float | None = None):
        """The open response of a request (the caller reads and closes it); raises ClientError."""
        url = self.url + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        extra = dict(headers or {})
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            extra["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers(extra))
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            with e:
                raise _error_of(e.code, e.read()) from None
        except urllib.error.URLError as e:
            raise self._unreachable(e.reason) from None
        except (ConnectionError, socket.timeout, http.client.HTTPException) as e:
            raise self._unreachable(e) from None

    def _json(self, method: str, path: str, body: Any = None, **kw) -> Any:
        with self._open(method, path, body, **kw) as resp:
            raw = resp.read()
        if not raw:
            return None
        return json.loads(raw)

    @staticmethod
    def _workflow(body: dict, workflow: Any, workflow_name: str | None) -> dict:
        if (workflow is None) == (workflow_name is None):
            raise ValueError("give one workflow: a path or a dict, or workflow_name= (one of /api/workflows)")
        if workflow_name is not None:
            body["workflow_name"] = workflow_name
        elif isinstance(workflow, Mapping):
            body["workflow"] = dict(workflow)
        else:
            body["workflow"] = read_workflow(workflow)
        return body

    # ------------------------------------------------------------------------------ jobs
    def submit(self, workflow: Any = None, *, workflow_name: str | None = None,
               overrides: Mapping[str, Any] | None = None, overrides_are_text: bool = False,
               targets: Sequence[str] | None = None, priority: int = 0, idempotency_key: str | None = None,
               webhook: str | None = None) -> str:
        """Queue a job; returns its id. ``workflow``: a workflow JSON file's path, or its dict; or
        ``workflow_name`` (a shipped example). ``overrides_are_text``: the values are strings read like
        ``--set``. The same ``idempotency_key`` gives back the first job's id."""
        body = self._job_body(workflow, workflow_name, overrides, overrides_are_text, targets, priority, webhook)
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return self._json("POST", "/api/jobs", body)["id"]

    def _job_body(self, workflow, workflow_name, overrides, overrides_are_text, targets, priority, webhook) -> dict:
        body: dict[str, Any] = {"overrides": dict(overrides or {}), "overrides_are_text": bool(overrides_are_text),
                                "priority": int(priority)}
        if targets:
            body["targets"] = [str(t) for t in targets]
        if webhook is not None:
            body["webhook"] = webhook
        return self._workflow(body, workflow, workflow_name)

    def get(self, job_id: str) -> dict:
        """The job: its summary, per-node states, outputs, errors and counts."""
        return self._json("GET", f"/api/jobs/{_q(job_id)}")

    def list(self, status: str | None = None, limit: int = 50, before: int | None = None) -> list[dict]:
        """Job summaries, newest first (``before``: a ``seq`` for the page after it)."""
        return self._json("GET", "/api/jobs", query={"status": status, "limit": limit, "before": before})["jobs"]

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued job at once, a running one at its nodes' next step; returns its summary."""
        return self._json("POST", f"/api/jobs/{_q(job_id)}/cancel")

    def delete(self, job_id: str) -> None:
        """Remove the job from the history with its events and output files."""
        self._json("DELETE", f"/api/jobs/{_q(job_id)}")

    def wait(self, job_id: str, timeout: float | None = None) -> dict:
        """Follow the job's events until it is final (or ``timeout`` seconds pass); returns the job."""
        for ev in self.events(job_id, timeout=timeout):
            if ev.get("event") == "job_finished":
                break
        return self.get(job_id)

    # ------------------------------------------------------------------------------ events
    def events(self, job_id: str, after: int = 0, *, timeout: float | None = None, idle: float | None = None,
               retries: int = 5) -> Iterator[dict]:
        """The job's events from the one after ``after``, as dicts (each with its ``seq``), until
        ``job_finished``. A dropped connection is resumed with ``Last-Event-ID`` (no gap, no repeat),
        up to ``retries`` times in a row. ``timeout``: stop after that many seconds in all; ``idle``:
        stop when no event came for that long (what has happened so far, for a job that still runs)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = int(after)
        failures = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            try:
                for seq, ev in self._stream(job_id, last, left, idle):
                    last = max(last, seq)
                    failures = 0
                    yield ev
                    if ev.get("event") == "job_finished":
                        return
            except _StreamIdle:
                return
            except ClientError as e:
                if e.status is not None and e.status < 500:
                    raise  # a 404 or 401 does not get better by asking again
                failures += 1
                if failures > retries:
                    raise
            except (OSError, http.client.HTTPException) as e:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                failures += 1
                if failures > retries:
                    raise self._unreachable(f"the event stream of {job_id} broke {failures} times: {e}") from None
            else:
                # the stream ended before job_finished: the server restarted or let go of it
                failures += 1
                if failures > retries:
                    raise ClientError(None, f"the event stream of {job_id} ended {failures} times before the job "
                                            "finished — see `reelgraph jobs show`")
            pause = min(0.25 * 2 ** (failures - 1), 4.0)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)

    def _stream(self, job_id: str, after: int, left: float | None, idle: float | None) -> Iterator[tuple[int, dict]]:
        """One connection to the job's event stream: (seq, event) as they come."""
        # a keep-alive comment comes every 15 s: a read that waits much longer means a dead connection
        read_timeout = min(x for x in (45.0, left, idle) if x is not None)
        p = self._parts
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname, p.port, timeout=min(self.timeout, read_timeout))
        path = (p.path or "") + f"/api/jobs/{_q(job_id)}/events?after={after}"
        headers = self._headers({"Accept": "text/event-stream", "Last-Event-ID": str(after),
                                 "Cache-Control": "no-cache"})
        try:
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
            except (ConnectionRefusedError, socket.gaierror) as e:
                raise self._unreachable(e) from None
            if resp.status != 200:
                raise _error_of(resp.status, resp.read())
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            seq, name, data = None, None, []
            while True:
                try:
                    line = resp.readline()
                except socket.timeout:
                    if idle is not None and (left is None or idle <= left):
                        raise _StreamIdle() from None
                    raise
                if not line:
                    return
                line = line.decode("utf-8").rstrip("\r\n")
                if line:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        seq = value
                    elif field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                    continue  # a comment (": keep-alive") or a field of the event being read
                if data:
                    ev = json.loads("\n".join(data))
                    if not isinstance(ev, dict):
                        ev = {"data": ev}
                    ev.setdefault("event", name or "message")
                    n = int(seq) if seq and seq.isdigit() else after
                    ev.setdefault("seq", n)
                    after = n
                    yield n, ev
                seq, name, data = None, None, []
        finally:
            conn.close()

    # ------------------------------------------------------------------------------ outputs
    def download(self, job_id: str, dest: str | os.PathLike, name: str | None = None) -> list[Path]:
        """Write the job's outputs: with one output (or ``name``: one of them) and ``dest`` not a
        folder, to the file ``dest``; else each into the folder ``dest`` under its own file name. A
        captioned video brings its ``.srt`` beside it; a value that is not media is written as
        ``.txt`` (text) or ``.json``. Returns the paths written."""
        job = self.get(job_id)
        if job.get("status") != "succeeded":
            raise ClientError(None, f"job {job_id} is {job.get('status')}: it has no outputs to download"
                                    + (" yet — wait for it (reelgraph jobs show)" if job.get("status") not in FINAL
                                       else ""))
        outputs: dict = job.get("outputs") or {}
        if name is not None:
            key = _output_named(outputs, name)
            if key is None:
                raise ClientError(404, f"job {job_id} has no output {name!r}; it has: {', '.join(outputs) or 'none'}")
            outputs = {key: outputs[key]}
        dest = Path(dest)
        written: list[Path] = []
        if len(outputs) == 1 and not dest.is_dir():
            (key, entry), = outputs.items()
            self._fetch(job_id, key, entry, dest, written)
            return written
        dest.mkdir(parents=True, exist_ok=True)
        for key, entry in outputs.items():
            self._fetch(job_id, key, entry, dest / output_file_name(key, entry), written)
        return written

    def _fetch(self, job_id: str, key: str, entry: Mapping[str, Any], path: Path, written: list[Path]) -> None:
        if "file" not in entry:  # text, a number, a list: it came inline
            value = entry.get("value")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2) + "\n"
            _write_atomic(path, [text.encode("utf-8")])
            written.append(path)
            return
        self.fetch_file(job_id, entry["file"], path)
        written.append(path)
        if entry.get("captions"):
            side = path.with_suffix(".srt")
            self.fetch_file(job_id, entry["captions"], side)
            written.append(side)

    def fetch_file(self, job_id: str, name: str, path: str | os.PathLike) -> Path:
        """Stream one output file (an output's name, file name or captions) to ``path``."""
        path = Path(path)
        with self._open("GET", f"/api/jobs/{_q(job_id)}/outputs/{_q(name)}", timeout=max(self.timeout, 300)) as resp:
            _write_atomic(path, iter(lambda: resp.read(_CHUNK), b""))
        return path

    # ------------------------------------------------------------------------------ batches
    def submit_batch(self, workflow: Any = None, rows: Sequence[Mapping[str, Any]] = (), *,
                     workflow_name: str | None = None, overrides: Mapping[str, Any] | None = None,
                     overrides_are_text: bool = False, targets: Sequence[str] | None = None, priority: int = 0,
                     webhook: str | None = None) -> tuple[str, list[str]]:
        """One job per row (a row's values on top of ``overrides``; its ``name`` names its outputs).
        Every row is checked before any job is queued. Returns (batch id, job ids)."""
        body = self._job_body(workflow, workflow_name, overrides, overrides_are_text, targets, priority, webhook)
        body["rows"] = [dict(r) for r in rows]
        answer = self._json("POST", "/api/batches", body)
        return answer["id"], list(answer["jobs"])

    def batch(self, batch_id: str) -> dict:
        """``{id, created, status, counts, jobs}`` of a batch."""
        return self._json("GET", f"/api/batches/{_q(batch_id)}")

    # ------------------------------------------------------------------------------ the rest
    def validate(self, workflow: Any = None, *, workflow_name: str | None = None,
                 overrides: Mapping[str, Any] | None = None, overrides_are_text: bool = False) -> dict:
        """``{"valid": bool, "issues": [...]}``: every problem at once, nothing runs."""
        body = self._workflow({"overrides": dict(overrides or {}), "overrides_are_text": bool(overrides_are_text)},
                              workflow, workflow_name)
        return self._json("POST", "/api/validate", body)

    def upload(self, path: str | os.PathLike, name: str | None = None) -> str:
        """Put a file into the server's workspace for a load node; returns the path to set
        (``uploads/<owner>/<name>``)."""
        path = Path(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return self._json("PUT", f"/api/files/{_q(name or path.name)}", data=f,
                              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                              timeout=max(self.timeout, 300))["path"]

    def health(self) -> dict:
        """``{"status": "ok", "version", "workers", "queued", "running", "paused", "engine"}``."""
        return self._json("GET", "/api/health")


class _StreamIdle(Exception):
    """No event within ``idle`` seconds."""


def _q(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")


def _error_of(status: int, raw: bytes) -> ClientError:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")  # a framework's own error shape, should one slip through
        message = body.get("message") or (detail if isinstance(detail, str) else "")
        issues = [i for i in body.get("issues") or [] if isinstance(i, dict)]
        return ClientError(status, message or f"HTTP {status}", issues)
    text = raw.decode("utf-8", "replace").strip()[:500] if raw else ""
    return ClientError(status, f"HTTP {status}" + (f": {text}" if text else ""))


def read_workflow(path: str | os.PathLike) -> dict:
    """A workflow JSON file's object (raises ClientError saying what is wrong with the file)."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ClientError(None, f"{p}: cannot read the workflow ({e.strerror})") from None
    except ValueError as e:
        raise ClientError(None, f"{p}: not a workflow JSON file ({e}) — give a .json workflow "
                                "(`reelgraph restore` gets one out of a PNG or MP4)") from None
    if not isinstance(raw, dict):
        raise ClientError(None, f"{p}: a workflow is a JSON object, this holds a {type(raw).__name__}")
    return raw


def output_file_name(key: str, entry: Mapping[str, Any]) -> str:
    """The file an output is written as: its own file name, or ``key.txt`` / ``key.json`` for a value."""
    if "file" in entry:
        return str(entry["file"])
    return key + (".txt" if isinstance(entry.get("value"), str) else ".json")


def _output_named(outputs: Mapping[str, Any], name: str) -> str | None:
    if name in outputs:
        return name
    for key, entry in outputs.items():
        if name == entry.get("file"):
            return key
    return None


def _write_atomic(path: Path, chunks) -> None:
    """Write beside ``path`` and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".reelgraph.part")
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
