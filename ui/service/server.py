"""``reelgraph serve``: the job service on uvicorn, its API tokens and its webhook key.

The command line (ui/jobs_cli.py) calls ``serve``, ``create_token`` and turns a ``ServiceError`` into
a message. Stopping the server (Ctrl-C, SIGTERM) closes the runner: running jobs become
``interrupted`` and run again on the next start, served from the cache as far as they got.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import secrets
import sys
from pathlib import Path

DEFAULT_PORT = 8421
DEFAULT_MAX_REQUEST = 16 * 2**20
DEFAULT_MAX_UPLOAD = 2**30
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ServiceError(Exception):
    """A reason the service cannot start or a token cannot be made, worded for the command line."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _store(data: Path):
    from reelgraph.graph.jobs import JobStore
    return JobStore(Path(data) / "jobs.db")


def create_token(data: str | os.PathLike, name: str) -> str:
    """A new API token for the owner ``name``, returned once; only its SHA-256 is stored. A new token
    for an existing name replaces the old one."""
    if not isinstance(name, str) or not _TOKEN_NAME.match(name):
        raise ServiceError(f"a token name is 1-64 letters, digits, '_', '.' or '-', not {name!r} "
                           "(it names the owner of the jobs made with the token)")
    token = secrets.token_urlsafe(32)
    store = _store(Path(data))
    try:
        store.add_token(name, hashlib.sha256(token.encode("utf-8")).hexdigest())
    finally:
        store.close()
    return token


def webhook_key(data: str | os.PathLike) -> bytes:
    """The server's webhook key (32 random bytes in ``data/webhook.key``, readable by its owner only),
    made on first use; each owner's signing secret is derived from it."""
    path = Path(data) / "webhook.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 16:
            raise ServiceError(f"{path} is damaged (too short); delete it to make a new webhook key "
                               "(receivers must then fetch the new secret)") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _server_class(on_stop, on_started):
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn raises the stop signal again once it has shut down, which would end the process before
        the runner is closed (running jobs would stay ``running`` until the next start finds them).
        This one only stops; ``serve`` then closes the runner and returns."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:  # listening: say so only now, so that whoever reads the line can connect
                on_started()

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            on_stop()
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return Server


def serve(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, workers: int = 2,
          data: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
          workspace: str | os.PathLike | None = None, max_request: int = DEFAULT_MAX_REQUEST,
          max_upload: int = DEFAULT_MAX_UPLOAD, registry=None, engine: str = "local",
          address: str | None = None) -> None:
    """Run the job service until stopped (blocking). Raises ServiceError for a non-loopback ``host``
    while no token exists, when the port cannot be bound, or when the engine cannot start.
    ``registry``: the node types (default: the installed ones). ``engine``/``address``: where node
    calls run (``ray``: a Ray cluster; see docs/cluster.md)."""
    import uvicorn
    from reelgraph import graph
    from reelgraph.graph.jobs import JobRunner, default_data_dir

    from .app import create_app

    data = Path(data) if data is not None else default_data_dir()
    workspace = Path(workspace) if workspace is not None else data / "workspace"
    loopback = is_loopback(host)
    store = _store(data)
    if not loopback and store.token_count() == 0:
        store.close()
        raise ServiceError(f"refusing to listen on {host}: it is reachable from other machines and no API token "
                           "exists yet. Create one with `reelgraph serve --create-token NAME` (every request "
                           "must then send it), or listen on 127.0.0.1")
    workspace.mkdir(parents=True, exist_ok=True)
    cache = graph.open_cache(Path(cache_dir) if cache_dir is not None else True)
    try:
        executor = graph.LocalExecutor(cache, engine=engine, **({"address": address} if address else {}))
    except ValueError as e:
        store.close()
        if cache is not None:
            cache.close()
        raise ServiceError(f"--engine {engine}: {e}") from None
    runner = JobRunner(data, cache, workers=workers, registry=registry, workspace=workspace, store=store,
                       executor=executor)
    try:
        runner.start()
        app = create_app(runner, require_token=not loopback, max_request=max_request, max_upload=max_upload,
                         workspace=workspace, webhook_key=webhook_key(data))
        # uvicorn handles SIGINT/SIGTERM: it stops accepting, gives open streams a few seconds, returns
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
        shown = f"[{host}]" if ":" in host else host
        line = (f"reelgraph serve: http://{shown}:{port} (docs at /docs), {runner.workers} workers, "
                f"data in {data}, engine {executor.dispatcher.describe()}")
        server = _server_class(app.state.stop_streams, lambda: print(line, file=sys.stderr, flush=True))(config)
        try:
            server.run()
        except SystemExit as e:  # uvicorn exits when it cannot bind (it has logged why)
            if e.code:
                raise ServiceError(f"could not listen on {shown}:{port}; is another server on that port? "
                                   "Pick another with --port") from None
            raise
    finally:
        runner.close()
        if cache is not None:
            cache.close()
