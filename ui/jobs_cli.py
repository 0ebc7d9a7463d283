"""The command line of the job service: serve, submit, jobs, batch (see docs/api.md).

Everything heavy is imported inside the commands, so that ``reelgraph --help`` stays instant.
Exit codes as for ``reelgraph run``: 0 success, 1 a job (or a batch row) failed, 2 invalid
workflow, rows or usage (or no service to talk to), 130 cancelled.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import click

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130
_EXIT_OF = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


def _cli():
    from reelgraph.ui import cli
    return cli


def _server_options(f):
    f = click.option("--token", envvar="REELGRAPH_TOKEN", default=None, show_envvar=True,
                     help="Bearer token of a server that needs one (reelgraph serve --create-token).")(f)
    return click.option("--server", "server", envvar="REELGRAPH_SERVER", default=None, show_envvar=True,
                        metavar="URL", help="The job service (default http://127.0.0.1:8421).")(f)


def _client(server: str | None, token: str | None):
    from reelgraph.client import DEFAULT_URL, Client
    try:
        return Client(server or DEFAULT_URL, token=token)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--server") from None


def _fail(err, code: int = EXIT_INVALID):
    """Print a ClientError (every issue on its own line) and exit: 2 for bad input or no service,
    1 for anything the server got wrong."""
    click.echo(f"error: {err}", err=True)
    if err.status is not None and err.status >= 500:
        code = EXIT_FAILED
    sys.exit(code)


def _workflow_body(workflow: Path) -> dict:
    """The workflow as a JSON object: a .json file as it is, a PNG or MP4 that reelgraph saved
    through the engine (it holds the workflow)."""
    if workflow.suffix.lower() == ".json":
        from reelgraph.client import ClientError, read_workflow
        try:
            return read_workflow(workflow)
        except ClientError as e:
            _fail(e)
    cli = _cli()
    g = cli._engine()
    try:
        return g.load(workflow).to_dict()
    except g.WorkflowError as e:
        cli._report_invalid(e)
        sys.exit(EXIT_INVALID)


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _seconds(job: dict) -> str:
    start, end = job.get("started"), job.get("finished")
    if not start:
        return "-"
    return f"{(end or time.time()) - start:.1f}"


def register(cli, engine_option, address_option) -> None:
    """Add the job commands to the ``reelgraph`` group."""
    set_option = click.option("--set", "sets", multiple=True, metavar="NODE.PARAM=VALUE",
                              help="Set a param; VALUE may be @file to read it from a file. Repeatable.")

    # ---------------------------------------------------------------------------------- serve
    @cli.command()
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="Address to listen on; anything but loopback needs a token (--create-token).")
    @click.option("--port", type=int, default=8421, show_default=True)
    @click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
                  help="How many jobs run at once.")
    @click.option("--data", type=click.Path(file_okay=False, path_type=Path),
                  help="Jobs, history and outputs (default: $REELGRAPH_DATA_DIR or the user data folder).")
    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Cache folder (default: the user cache dir, or $REELGRAPH_CACHE_DIR).")
    @click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
                  help="Where jobs' relative paths point and uploads land (default: DATA/workspace).")
    @click.option("--max-request", default="16MB", show_default=True, metavar="SIZE",
                  help="Largest request body.")
    @click.option("--max-upload", default="1GB", show_default=True, metavar="SIZE", help="Largest upload.")
    @click.option("--create-token", metavar="NAME",
                  help="Print a new token for NAME (its owner) and exit; only its hash is stored.")
    @engine_option
    @address_option
    def serve(host, port, workers, data, cache_dir, workspace, max_request, max_upload, create_token,
              engine, address) -> None:
        """Run workflows as jobs behind a REST API with live events (docs/api.md)."""
        import importlib.util
        missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
        if missing and not create_token:
            raise click.ClickException(f"the job service needs FastAPI and uvicorn ({', '.join(missing)} missing): "
                                       "pip install 'reelgraph[service]'")
        from reelgraph.graph import jobs, parse_size
        from reelgraph.ui.service import server
        data = data or jobs.default_data_dir()
        try:
            if create_token:
                token = server.create_token(data, create_token)
                click.echo(token)
                click.echo(f"token for {create_token!r} created; it is shown only this once — keep it "
                           "(send it as Authorization: Bearer TOKEN, or --token / $REELGRAPH_TOKEN)", err=True)
                return
            limits = {}
            for opt, value in (("--max-request", max_request), ("--max-upload", max_upload)):
                try:
                    limits[opt] = parse_size(value)
                except ValueError as e:
                    raise click.BadParameter(str(e), param_hint=opt) from None
            if address and engine == "local":
                raise click.UsageError("--address needs --engine ray")
            server.serve(host=host, port=port, workers=workers, data=data, cache_dir=cache_dir,
                         workspace=workspace, max_request=limits["--max-request"], max_upload=limits["--max-upload"],
                         engine=engine, address=address)
        except server.ServiceError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_INVALID)

    # ---------------------------------------------------------------------------------- submit
    @cli.command()
    @click.argument("workflow", type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @_server_options
    @set_option
    @click.option("--target", "targets", multiple=True, metavar="NODE",
                  help="Run only what this node needs. Repeatable.")
    @click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
    @click.option("--key", "idempotency_key", metavar="KEY",
                  help="Idempotency key: submitting the same key again gives back the first job.")
    @click.option("--webhook", metavar="URL", help="POST the finished job here (http or https).")
    @click.option("--wait", is_flag=True, help="Show progress until the job is done; exit 0, 1 or 130.")
    @click.option("-o", "--output", "out", type=click.Path(path_type=Path),
                  help="Download the outputs here when done (a folder when there are several); implies --wait.")
    def submit(workflow, server, token, sets, targets, priority, idempotency_key, webhook, wait, out) -> None:
        """Submit WORKFLOW to the job service; print the job id."""
        from reelgraph.client import ClientError
        overrides = _cli()._parse_sets(sets)
        body = _workflow_body(workflow)
        c = _client(server, token)
        try:
            job_id = c.submit(body, overrides=overrides, overrides_are_text=True, targets=list(targets),
                              priority=priority, idempotency_key=idempotency_key, webhook=webhook)
        except ClientError as e:
            _fail(e)
        click.echo(job_id)
        sys.stdout.flush()
        if wait or out is not None:
            sys.exit(_follow(c, job_id, out))

    def _follow(c, job_id: str, out: Path | None) -> int:
        """Show the job's progress on stderr until it is final; download its outputs; the exit code."""
        from reelgraph.client import ClientError
        console = _cli()._stderr_console()
        last = 0
        cancelling = False
        with _RemoteProgress(console, live=console.is_terminal) as progress:
            while True:
                try:
                    for ev in c.events(job_id, after=last):
                        last = ev.get("seq", last)
                        progress(ev)
                    break
                except ClientError as e:
                    progress.close()
                    _fail(e, EXIT_FAILED)
                except KeyboardInterrupt:
                    if cancelling:
                        click.echo(f"stopped following; {job_id} is being cancelled on the server", err=True)
                        return EXIT_CANCELLED
                    cancelling = True
                    os.write(2, f"cancelling {job_id}: running nodes stop at their next step (Ctrl-C again to "
                                "stop following)\n".encode())
                    try:
                        c.cancel(job_id)
                    except ClientError as e:
                        _fail(e, EXIT_FAILED)
        try:
            job = c.get(job_id)
        except ClientError as e:
            _fail(e, EXIT_FAILED)
        status = job.get("status")
        if status == "cancelled":
            console.print("[yellow]cancelled[/]: finished nodes are cached; submit again to resume")
        elif status == "failed":
            for err in job.get("errors") or []:
                if err.get("message") not in progress.shown:  # a node's error the progress showed already
                    click.echo(f"error: {_format(err)}", err=True)
            counts = job.get("counts") or {}
            click.echo(f"job {job_id} failed" + (f" ({counts.get('skipped', 0)} node(s) skipped)" if counts else ""),
                       err=True)
        elif status == "succeeded" and out is not None:
            try:
                for path in c.download(job_id, out):
                    click.echo(f"wrote {path}", err=True)
            except ClientError as e:
                _fail(e, EXIT_FAILED)
            except OSError as e:
                _cli()._output_failed(Path(e.filename or out), e, cached=True)
        return _EXIT_OF.get(status, EXIT_FAILED)

    # ---------------------------------------------------------------------------------- jobs
    @cli.group()
    def jobs() -> None:
        """The jobs of a job service: list, show, events, cancel, outputs, delete."""

    @jobs.command("list")
    @_server_options
    @click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled",
                                                 "interrupted"]), help="Only jobs with this status.")
    @click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
    def jobs_list(server, token, status, limit, as_json) -> None:
        """The newest jobs first."""
        rows = _call(lambda c: c.list(status=status, limit=limit), server, token, local=True)
        if as_json:
            click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        from rich.table import Table
        table = Table("id", "status", "name", "created", "seconds", box=None)
        for j in rows:
            table.add_row(j["id"], _styled(j["status"]), _esc(j.get("name") or "-"), _ago(j.get("created")),
                          _seconds(j))
        _console().print(table)
        if not rows:
            click.echo("no jobs" + (f" with status {status}" if status else ""), err=True)

    @jobs.command("show")
    @click.argument("job_id", metavar="ID")
    @_server_options
    @click.option("--json", "as_json", is_flag=True, help="Print the whole job record as JSON.")
    def jobs_show(job_id, server, token, as_json) -> None:
        """A job's status, node states, outputs and errors."""
        job = _call(lambda c: c.get(job_id), server, token, local=True)
        if as_json:
            click.echo(json.dumps(job, indent=2, ensure_ascii=False))
            return
        from rich.table import Table
        console = _console()
        console.print(f"[bold]{job['id']}[/] {_styled(job['status'])}"
                      + (f"  name {_esc(job['name'])}" if job.get("name") else "")
                      + f"  created {_ago(job.get('created'))}  seconds {_seconds(job)}"
                      + (f"  attempts {job['attempts']}" if job.get("attempts", 1) > 1 else ""))
        nodes = job.get("nodes") or {}
        if nodes:
            table = Table("node", "status", "seconds", "note", box=None, title="nodes", title_justify="left")
            for node, st in nodes.items():
                note = (st.get("error") or {}).get("message", "") if st.get("error") else ""
                if st.get("progress") is not None and st.get("status") == "running":
                    note = f"{st['progress']:.0%}"
                seconds = st.get("seconds")
                table.add_row(_esc(node), _styled(st.get("status", "?")), "-" if seconds is None else f"{seconds:.2f}",
                              _esc(note) or ("cached" if st.get("cached") else ""))
            console.print(table)
        outputs = job.get("outputs") or {}
        if outputs:
            console.print(_outputs_table(outputs))
        for err in job.get("errors") or []:
            console.print(f"[red]error[/] {_esc(_format(err))}")

    @jobs.command("events")
    @click.argument("job_id", metavar="ID")
    @_server_options
    @click.option("--after", type=int, default=0, help="Start after this event id.")
    @click.option("--follow", "-f", is_flag=True, help="Keep following until the job finishes.")
    def jobs_events(job_id, server, token, after, follow) -> None:
        """A job's events, one JSON object per line (so far, or --follow until it finishes)."""
        from reelgraph.client import ClientError
        c = _client(server, token)
        if server is None and not follow:
            try:
                c.health()
            except ClientError as e:
                if e.status is not None:
                    _fail(e)
                c = _local_history()  # the log so far, from this machine's history
        try:
            # without --follow: the log so far (a finished job's stream ends on its own; a running
            # job's stream is left once it has been quiet for a moment)
            for ev in c.events(job_id, after=after, idle=None if follow else 1.0):
                click.echo(json.dumps(ev, ensure_ascii=False))
        except ClientError as e:
            _fail(e)
        except KeyboardInterrupt:
            sys.exit(EXIT_CANCELLED)

    @jobs.command("cancel")
    @click.argument("job_id", metavar="ID")
    @_server_options
    def jobs_cancel(job_id, server, token) -> None:
        """Cancel a job: a queued one at once, a running one at its nodes' next step."""
        job = _call(lambda c: c.cancel(job_id), server, token)
        click.echo(f"{job_id}: {job.get('status')}"
                   + (" (cancelling: running nodes stop at their next step)" if job.get("status") == "running" else ""))

    @jobs.command("delete")
    @click.argument("job_id", metavar="ID")
    @_server_options
    def jobs_delete(job_id, server, token) -> None:
        """Remove a job from the history, with its events and output files."""
        _call(lambda c: c.delete(job_id), server, token)
        click.echo(f"deleted {job_id}")

    @jobs.command("outputs")
    @click.argument("job_id", metavar="ID")
    @_server_options
    @click.option("-o", "--output", "out", type=click.Path(path_type=Path),
                  help="Download them here (a file for one output, else a folder).")
    def jobs_outputs(job_id, server, token, out) -> None:
        """List a job's outputs, or download them with -o."""
        if out is not None:
            for path in _call(lambda c: c.download(job_id, out), server, token, local=True):
                click.echo(f"wrote {path}", err=True)
            return
        job = _call(lambda c: c.get(job_id), server, token, local=True)
        outputs = job.get("outputs") or {}
        if not outputs:
            click.echo(f"{job_id} is {job.get('status')}: no outputs", err=True)
            return
        _console().print(_outputs_table(outputs))

    # ---------------------------------------------------------------------------------- batch
    @cli.command()
    @click.argument("workflow", type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.argument("rows_file", metavar="ROWS", type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="Folder for the outputs: NAME.ext per row (NAME/node.port.ext with several outputs).")
    @_server_options
    @set_option
    @click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
                  help="Rows run at once (in process; a server uses its own --workers).")
    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Cache folder (in process; default: the user cache dir, or $REELGRAPH_CACHE_DIR).")
    def batch(workflow, rows_file, outdir, server, token, sets, workers, cache_dir) -> None:
        """Run WORKFLOW once per row of ROWS (.csv or .jsonl) and write each row's outputs into OUTDIR.

        Columns are NODE.PARAM (values read like --set; a cell @FILE reads a file beside ROWS; an
        empty cell sets nothing); an optional `name` column names each row's outputs (default
        row-001, row-002, …). Every row is checked before any runs. Without --server the rows run in
        this process, sharing the cache; with --server (or $REELGRAPH_SERVER), on that service.
        """
        sys.exit(_run_batch(workflow, rows_file, outdir, server=server, token=token,
                                      sets=_cli()._parse_sets(sets), workers=workers, cache_dir=cache_dir))


def _esc(text: Any) -> str:
    """Text from a workflow or the server, shown as it is (a `[` in it is not rich markup)."""
    from rich.markup import escape
    return escape(str(text))


def _console():
    """Tables on stdout: the terminal's width, or wide enough not to wrap ids and paths in a pipe."""
    from rich.console import Console
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _call(fn: Callable[[Any], Any], server, token, local: bool = False) -> Any:
    """``fn(client)``; with ``local``, when no server was named and none answers at the default
    address, ``fn`` reads this machine's job history instead (the editor's runs, a stopped server's)."""
    from reelgraph.client import ClientError
    try:
        return fn(_client(server, token))
    except ClientError as e:
        if not (local and server is None and e.status is None):
            _fail(e)
    history = _local_history()
    try:
        return fn(history)
    except ClientError as e:
        _fail(e)


def _local_history():
    from reelgraph.graph import default_data_dir
    data = default_data_dir()
    if not (data / "jobs.db").is_file():
        from reelgraph.client import DEFAULT_URL
        _fail(_client_error(None, f"no reelgraph service at {DEFAULT_URL} and no job history in {data} — "
                                  "start one with `reelgraph serve`, or pass --server URL"))
    click.echo(f"note: no service at the default address; reading the job history in {data}", err=True)
    return LocalHistory(data)


def _client_error(status, message):
    from reelgraph.client import ClientError
    return ClientError(status, message)


def LocalHistory(data: Path):  # noqa: N802 - reads like the class it builds
    """The job history of this machine read straight from its data folder: a Client whose reads
    (``list``, ``get``, ``events``, ``download``) answer from ``<data>/jobs.db`` and its output files,
    with the same JSON as the service. It only reads: cancel and delete go through the service."""
    from reelgraph.client import Client
    from reelgraph.graph import JobStore, jobs

    class _LocalHistory(Client):
        def __init__(self) -> None:  # no server: nothing of Client's connection state is needed
            self.data = data
            self.store = JobStore(data / "jobs.db")

        def _job(self, job_id: str) -> dict:
            job = self.store.get(job_id)
            if job is None or job["owner"] != "local":
                raise _client_error(404, f"no job {job_id!r} in {data}")
            return job

        def get(self, job_id: str) -> dict:
            return jobs.job_detail(self._job(job_id))

        def list(self, status: str | None = None, limit: int = 50, before: int | None = None) -> list[dict]:
            return [jobs.job_summary(j) for j in self.store.list(owner="local", status=status, limit=limit,
                                                                  before=before)]

        def events(self, job_id: str, after: int = 0, **_) -> Iterator[dict]:
            self._job(job_id)
            for seq, ev in self.store.events(job_id, after, limit=1_000_000):
                yield {**ev, "seq": seq}

        def fetch_file(self, job_id: str, name: str, path) -> Path:
            from reelgraph.graph import safe_write
            src = data / "outputs" / job_id / name
            if "/" in name or not src.is_file():
                raise _client_error(404, f"job {job_id} has no file {name!r} any more in {data / 'outputs'}")
            safe_write.copy_file(src, path)
            return Path(path)

    return _LocalHistory()


def _format(err: dict) -> str:
    from reelgraph.client import format_issue
    where = err.get("node") or ""
    if where and err.get("element") is not None:
        where += f"[{err['element']}]"
    return format_issue({**err, "node": where})


_STYLE = {"succeeded": "green", "done": "green", "cached": "green", "failed": "red", "cancelled": "yellow",
          "interrupted": "yellow", "running": "cyan", "queued": "dim", "skipped": "dim"}


def _styled(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def _outputs_table(outputs: dict):
    from rich.table import Table
    table = Table("output", "type", "file or value", "size", box=None, title="outputs", title_justify="left")
    for name, entry in outputs.items():
        if "file" in entry:
            shown = _esc(entry["file"] + (f" (+ {entry['captions']})" if entry.get("captions") else ""))
            if entry.get("expired"):
                shown += " [dim](expired)[/]"
            size = entry.get("size")
            table.add_row(_esc(name), entry.get("type", ""), shown, "" if size is None else f"{size / 2**20:.2f} MiB")
        else:
            value = entry.get("value")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            table.add_row(_esc(name), entry.get("type", ""), _esc(text if len(text) < 80 else text[:77] + "…"), "")
    return table


class _RemoteProgress:
    """Relays a job's events (dicts from the service) to stderr: a rich bar per node on a terminal,
    plain lines elsewhere. Nodes get their bar when the job says it starts them."""

    def __init__(self, console, live: bool):
        self.console = console
        self.bars = None
        self.tasks: dict[str, Any] = {}
        self.shown: set[str] = set()  # the error messages shown
        if live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.bars = Progress(TextColumn("{task.fields[mark]}"), TextColumn("[bold]{task.description}"),
                                 BarColumn(), TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                                 console=console, transient=False)

    def __enter__(self):
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None  # closed: what comes after prints as plain lines

    def _task(self, node: str):
        if node not in self.tasks:
            self.tasks[node] = self.bars.add_task(_esc(node), total=1.0, mark="·", note="")
        return self.tasks[node]

    def __call__(self, ev: dict) -> None:
        kind, node = ev.get("event"), ev.get("node")
        if kind == "node_failed":
            self.shown.add((ev.get("error") or {}).get("message") or ev.get("message") or "")
        if kind == "job_queued":
            self._say("queued")
        elif kind == "job_started" and (ev.get("attempt") or 1) > 1:
            self._say(f"started again (attempt {ev['attempt']}): finished nodes come from the cache")
        elif kind == "job_interrupted":
            self._say(f"[yellow]interrupted[/]: {_esc(ev.get('message', ''))}")
        elif kind == "node_warning":
            self._say(f"[yellow]warning[/] {_esc(node + ': ' if node else '')}{_esc(ev.get('message', ''))}")
        elif node and self.bars is not None:
            self._bar(kind, node, ev)
        elif node:
            self._line(kind, node, ev)

    def _say(self, text: str) -> None:
        self.console.print(text)

    def _bar(self, kind: str, node: str, ev: dict) -> None:
        b, task = self.bars, self._task(node)
        if kind == "node_started":
            b.update(task, mark="[cyan]▶[/]")
        elif kind == "node_progress" and ev.get("progress") is not None:
            b.update(task, completed=ev["progress"], note=_esc(ev.get("message") or ""))
        elif kind in ("node_finished", "node_cached"):
            b.update(task, completed=1.0, mark="[green]✓[/]", note="cached" if ev.get("cached") else "")
        elif kind == "node_failed":
            b.update(task, mark="[red]✗[/]", note="[red]failed[/]")
            self.console.print(f"[red]error[/] {_esc(ev.get('message', ''))}")
        elif kind == "node_skipped":
            b.update(task, mark="[dim]-[/]", note=f"[dim]{_esc(ev.get('message', ''))}[/]")

    def _line(self, kind: str, node: str, ev: dict) -> None:
        if kind == "node_finished":
            took = "cached" if ev.get("cached") else f"{ev.get('seconds', 0):.2f}s"
            self._say(f"✓ {_esc(node)} ({took})")
        elif kind == "node_failed":
            self._say(f"✗ {_esc(ev.get('message', ''))}")
        elif kind == "node_skipped":
            self._say(f"- {_esc(node)}: {_esc(ev.get('message', ''))}")


# -------------------------------------------------------------------------------------- batch

_ROW_REF = "rows["


def _run_batch(workflow: Path, rows_file: Path, outdir: Path, *, server: str | None, token: str | None,
               sets: dict[str, str], workers: int, cache_dir: Path | None) -> int:
    """The ``reelgraph batch`` command: read and check the rows, run them (here or on a service),
    write each row's outputs, print the summary. Returns the exit code."""
    rows, names = _read_rows(rows_file)
    body = _workflow_body(workflow)
    if outdir.exists() and not outdir.is_dir():
        raise click.UsageError(f"-o {outdir}: this is a file — name a folder for the outputs")
    named = [{**row, "name": name} for row, name in zip(rows, names)]
    run = _batch_remote if server else _batch_local
    results, cancelled = run(workflow, body, named, names, outdir, server=server, token=token, sets=sets,
                             workers=workers, cache_dir=cache_dir)
    _print_summary(results)
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_FAILED if any(r["status"] != "succeeded" for r in results) else EXIT_OK


def _read_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a .csv or .jsonl file as ``{NODE.PARAM: text}`` and their names; every problem
    (naming its row) on stderr and exit 2."""
    import csv
    problems: list[str] = []
    raw: list[tuple[int, dict[str, Any]]] = []  # (row number, cells)
    kind = path.suffix.lower()
    try:
        if kind == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                for n, cells in enumerate(reader, 1):
                    if None in cells:
                        problems.append(f"row {n}: {len(cells[None])} cell(s) more than the header has columns "
                                        "— quote cells that hold commas")
                        cells.pop(None)
                    raw.append((n, cells))
                columns = list(reader.fieldnames or [])
        elif kind in (".jsonl", ".ndjson"):
            columns = []
            with open(path, encoding="utf-8") as f:
                lines = [line for line in f if line.strip()]
            for n, line in enumerate(lines, 1):
                try:
                    cells = json.loads(line)
                except ValueError as e:
                    problems.append(f"row {n}: not JSON ({e}) — write one JSON object per line")
                    continue
                if not isinstance(cells, dict):
                    problems.append(f"row {n}: a row is a JSON object like {{\"node.param\": \"value\"}}, "
                                    f"this is a {type(cells).__name__}")
                    continue
                columns += [k for k in cells if k not in columns]
                raw.append((n, cells))
        else:
            raise click.UsageError(f"{path}: rows come as .csv or .jsonl (one JSON object per line)")
    except UnicodeDecodeError as e:
        raise click.UsageError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}) — "
                               "save it as UTF-8") from None
    except OSError as e:
        raise click.UsageError(f"{path}: cannot read it ({e.strerror})") from None
    for col in columns:
        node, dot, param = str(col).partition(".")
        if col != "name" and not (dot and node.strip() and param.strip()):
            problems.append(f"column {col!r}: columns are NODE.PARAM (e.g. keyframe.aspect), or name")
    if not raw and not problems:
        problems.append("no rows — add one row per run under a header of NODE.PARAM columns")
    rows, names, seen = [], [], {}
    for n, cells in raw:
        row: dict[str, str] = {}
        name = f"row-{n:03d}"
        for col, cell in cells.items():
            if cell is None or cell == "":
                continue  # an empty cell sets nothing: the workflow's value (or --set) stays
            if not isinstance(cell, str):
                cell = json.dumps(cell, ensure_ascii=False)
            if col == "name":
                name = cell.strip() or name  # a blank name: the row's default one
                continue
            col = col.strip()
            if cell.startswith("@"):
                try:
                    cell = _cli()._read_set_file(col, str(path.parent / cell[1:]))
                except click.UsageError as e:
                    problems.append(f"row {n}: {col}: {e.message.split(': ', 1)[-1]}")
                    continue
            row[col] = cell
        problem = _name_problem(name)
        if problem:
            problems.append(f"row {n}: name {name!r}: {problem}")
        elif name in seen:
            problems.append(f"row {n}: name {name!r} is also the name of row {seen[name]} — names must be unique "
                            "(each names its outputs)")
        seen.setdefault(name, n)
        rows.append(row)
        names.append(name)
    if problems:
        for p in problems:
            click.echo(f"error: {path}: {p}", err=True)
        click.echo("nothing was run", err=True)
        sys.exit(EXIT_INVALID)
    return rows, names


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a row's output files, or None."""
    if not name:
        return "empty — give every row a name, or leave the whole column out (row-001, row-002, …)"
    if name in (".", "..") or name.startswith("."):
        return "a name may not start with a dot (it would be a hidden file or a folder above) — rename it"
    bad = sorted({c for c in name if c in '/\\:*?"<>|' or ord(c) < 32 or ord(c) == 127})
    if bad:
        return f"holds {''.join(bad)!r}, which file names cannot (safely) hold — use letters, digits, - and _"
    if len(name.encode("utf-8")) > 200:
        return "too long for a file name (over 200 bytes) — shorten it"
    return None


def _row_issue(issue: dict, names: list[str]) -> str:
    """An issue of one row's workflow, naming the row (the service says ``rows[3]: ...``)."""
    from reelgraph.client import format_issue
    message = str(issue.get("message") or "")
    prefix = ""
    if message.startswith(_ROW_REF):
        index, _, rest = message[len(_ROW_REF):].partition("]: ")
        if index.isdigit() and int(index) < len(names):
            prefix = f"row {int(index) + 1} ({names[int(index)]}): "
            issue = {**issue, "message": rest}
    return prefix + format_issue(issue)


def _batch_invalid(issues: Iterable[dict], names: list[str]) -> None:
    for issue in issues:
        click.echo(f"error: {_row_issue(issue, names)}", err=True)
    click.echo("nothing was run", err=True)
    sys.exit(EXIT_INVALID)


class _BatchProgress:
    """Jobs done of the total: one rich bar on a terminal, a line per finished row elsewhere."""

    def __init__(self, total: int, names: dict[str, str]):
        self.console = _cli()._stderr_console()
        self.names = names
        self.bars = None
        self.done: set[str] = set()
        self._lock = threading.Lock()  # rows finish on several worker threads
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.bars = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                                 TimeElapsedColumn(), console=self.console, transient=False)
            self.task = self.bars.add_task("batch", total=total)

    def __enter__(self):
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.stop()

    def finished(self, job: dict) -> None:
        with self._lock:
            self._finished(job)

    def _finished(self, job: dict) -> None:
        if job["id"] in self.done or job["id"] not in self.names:
            return
        self.done.add(job["id"])
        if self.bars is not None:
            self.bars.advance(self.task)
            if job["status"] != "succeeded":
                self.console.print(f"[red]✗[/] {_esc(self.names[job['id']])}: {job['status']}")
        else:
            mark = "✓" if job["status"] == "succeeded" else "✗"
            count = f"({len(self.done)}/{len(self.names)})"
            self.console.print(f"{mark} {_esc(self.names[job['id']])} {job['status']} {count}")


def _batch_local(workflow: Path, body: dict, rows: list[dict], names: list[str], outdir: Path, *,
                 sets: dict[str, str], workers: int, cache_dir: Path | None, **_) -> tuple[list[dict], bool]:
    """Run the rows in this process on a JobRunner with a throwaway history; the rows share the cache."""
    import shutil
    import tempfile

    from reelgraph.graph import CacheError, WorkflowError, jobs, open_cache, safe_write
    try:
        cache = open_cache(cache_dir or True)
    except (CacheError, ValueError, OSError) as e:
        raise click.UsageError(f"cache: {e} (choose another with --cache-dir)") from None
    data = Path(tempfile.mkdtemp(prefix="reelgraph-batch-"))
    here = workflow.resolve().parent  # relative paths point beside the workflow, as for `reelgraph run`
    runner = jobs.JobRunner(data, cache, workers=workers, workspace=here)
    cancelled = False
    try:
        spec = jobs.JobSpec(body, overrides=dict(sets), text=True, source="batch", workspace=str(here))
        try:
            # every row is checked before any is queued: one bad row and nothing runs
            _, queued = runner.submit_batch(spec, rows)
        except WorkflowError as e:
            _batch_invalid([i.to_dict() for i in e.issues], names)
        ids = [j["id"] for j in queued]
        progress = _BatchProgress(len(ids), dict(zip(ids, names)))
        runner.on_finished.append(progress.finished)
        with progress:
            runner.start()
            try:
                for job_id in ids:
                    runner.wait(job_id)
            except KeyboardInterrupt:
                cancelled = True
                os.write(2, b"cancelling the batch: running rows stop at their next step (Ctrl-C again to quit)\n")
                for job_id in ids:
                    runner.cancel(job_id)
                for job_id in ids:
                    runner.wait(job_id, timeout=120)
        results = []
        for job_id, name in zip(ids, names):
            job = runner.job(job_id) or {"id": job_id, "status": "failed", "state": {}}

            def fetch(file: str, dest: Path, job_id=job_id) -> None:
                safe_write.copy_file(runner.outputs_dir / job_id / file, dest)

            results.append(_row_result(job, job.get("state") or {}, name, outdir, fetch))
        return results, cancelled
    finally:
        runner.close()
        if cache is not None:
            cache.close()
        shutil.rmtree(data, ignore_errors=True)


def _batch_remote(workflow: Path, body: dict, rows: list[dict], names: list[str], outdir: Path, *,
                  server: str, token: str | None, sets: dict[str, str], **_) -> tuple[list[dict], bool]:
    """Run the rows on the job service and download each row's outputs."""
    from reelgraph.client import ClientError
    c = _client(server, token)
    try:
        _, ids = c.submit_batch(body, rows, overrides=sets, overrides_are_text=True)
    except ClientError as e:
        if e.status == 422 and e.issues:
            _batch_invalid(e.issues, names)
        _fail(e)
    progress = _BatchProgress(len(ids), dict(zip(ids, names)))
    cancelled = False
    jobs: dict[str, dict] = {}
    with progress:
        pending = list(ids)
        while pending:
            try:
                for job_id in list(pending):
                    job = c.get(job_id)
                    jobs[job_id] = job
                    if job["status"] in ("succeeded", "failed", "cancelled"):
                        pending.remove(job_id)
                        progress.finished(job)
                if pending:
                    time.sleep(0.25)
            except ClientError as e:
                _fail(e, EXIT_FAILED)
            except KeyboardInterrupt:
                if cancelled:
                    raise
                cancelled = True
                os.write(2, b"cancelling the batch on the server: running rows stop at their next step\n")
                for job_id in pending:
                    try:
                        c.cancel(job_id)
                    except ClientError as e:
                        click.echo(f"warning: {job_id}: {e}", err=True)
    results = []
    for job_id, name in zip(ids, names):
        job = jobs[job_id]

        def fetch(file: str, dest: Path, job_id=job_id) -> None:
            c.fetch_file(job_id, file, dest)

        results.append(_row_result(job, job, name, outdir, fetch))
    return results, cancelled


def _row_result(job: dict, record: dict, name: str, outdir: Path, fetch) -> dict:
    """Write a finished row's outputs into ``outdir``; its line of the summary."""
    from reelgraph.client import ClientError
    status = job.get("status", "failed")
    errors = record.get("errors") or []
    written: list[Path] = []
    error = _format(errors[0]) + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "") if errors else ""
    if status == "succeeded":
        try:
            written = _deliver_row(record.get("outputs") or {}, name, outdir, fetch)
        except (OSError, ClientError) as e:
            status, error = "failed", f"writing its outputs failed: {e}"
    seconds = job["finished"] - job["started"] if job.get("finished") and job.get("started") else None
    return {"name": name, "id": job.get("id"), "status": status, "seconds": seconds, "written": written,
            "error": error}


def _deliver_row(outputs: dict, name: str, outdir: Path, fetch) -> list[Path]:
    """A row's outputs: ``outdir/NAME.ext`` for a workflow with one output, else
    ``outdir/NAME/node.port.ext``; a captioned video brings its .srt beside it."""
    from reelgraph.client import output_file_name
    from reelgraph.graph import safe_write
    if len(outputs) == 1:
        (key, entry), = outputs.items()
        targets = [(entry, outdir / (name + output_file_name(key, entry)[len(key):]))]
    else:
        targets = [(entry, outdir / name / output_file_name(key, entry)) for key, entry in outputs.items()]
    written = []
    for entry, path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        if "file" in entry:
            fetch(entry["file"], path)
            written.append(path)
            if entry.get("captions"):
                fetch(entry["captions"], path.with_suffix(".srt"))
                written.append(path.with_suffix(".srt"))
        else:
            value = entry.get("value")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2) + "\n"
            safe_write.write_bytes(path, text.encode("utf-8"))
            written.append(path)
    return written


def _print_summary(results: list[dict]) -> None:
    from rich.table import Table
    table = Table("name", "status", "seconds", "output", "error", box=None)
    for r in results:
        shown = ", ".join(str(p) for p in r["written"] if p.suffix != ".srt") or "-"
        table.add_row(_esc(r["name"]), _styled(r["status"]), "-" if r["seconds"] is None else f"{r['seconds']:.1f}",
                      _esc(shown), _esc(r["error"]))
    _console().print(table)
    ok = sum(r["status"] == "succeeded" for r in results)
    click.echo(f"{ok} of {len(results)} rows succeeded", err=True)
