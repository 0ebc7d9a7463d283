"""The ``reelgraph`` command line.

Exit codes: 0 success, 1 a node failed, 2 invalid workflow or usage, 130 cancelled (Ctrl-C).
Progress and messages go to stderr; stdout carries only results (``--events json``: one JSON
object per line), so the command composes with pipes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130


def _engine():
    # Imported on use so that `reelgraph --help` answers instantly.
    from reelgraph import graph
    return graph


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _report_invalid(err) -> None:
    for issue in err.issues:
        prefix = f"{err.source}: " if err.source and issue.code in ("json", "file") else ""
        click.echo(prefix + str(issue), err=True)


def _compile_or_exit(workflow: Path, sets: tuple[str, ...], restored: bool = False, quiet: bool = False):
    """The validated workflow, or every problem on stderr and exit 2. ``restored``: the workflow
    comes out of a PNG/MP4 (``run --from``), so the files its save nodes name are not written."""
    g = _engine()
    overrides = _parse_sets(sets)
    try:
        source = g.load(workflow)
        if restored:
            _drop_saved_paths(source, overrides, workflow, quiet)
        return g.compile(source, overrides, from_text=True)
    except g.WorkflowError as e:
        _report_invalid(e)
        sys.exit(EXIT_INVALID)


def _drop_saved_paths(wf, overrides: dict[str, str], media: Path, quiet: bool) -> None:
    """Clear the paths a restored workflow's nodes would write (``writes_params`` of their class).

    Those paths were relative to the folder of the workflow that made ``media``; resolved beside
    ``media`` they would replace whatever files of the user's happen to have those names. A run
    from a media file therefore writes only where the command line says: ``-o``, or a path the
    user sets again with ``--set``.
    """
    from reelgraph.graph import jobs
    for ref, was in jobs.drop_written_paths(wf, overrides):
        if not quiet:
            click.echo(f"note: {ref} not written: {was} named a file beside the workflow that made "
                       f"{media.name}, not here — -o writes the result (or --set {ref}=NAME "
                       f"writes into {media.parent})", err=True)


class _PathParam(click.Path):
    """click's Path, refusing what no file name can be, before anything touches the file system."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            problem = _path_problem(value)
            if problem:
                self.fail(problem, param, ctx)
        return super().convert(value, param, ctx)


def _path_problem(value: str) -> str | None:
    """Why ``value`` cannot name a file (with the fix), or None."""
    if not value:
        return "the path is empty — name a file (or a folder where one is expected)"
    if "\0" in value:
        return f"{value!r} contains a NUL byte, which no file name can hold — remove it"
    try:
        os.fsencode(value)  # non-UTF-8 bytes from argv arrive as surrogate escapes and encode back
    except UnicodeEncodeError:
        return f"{value!r} holds characters this system cannot use in a file name — rename it"
    return None


def _path(**kwargs) -> _PathParam:
    return _PathParam(path_type=Path, **kwargs)


_SET_FILE_LIMIT = 16 * 2**20  # a script, a prompt list, a JSON value: never a video


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    sets: dict[str, str] = {}
    for item in values:
        ref, eq, value = item.partition("=")
        if not eq or "." not in ref:
            raise click.UsageError(f"--set {item!r}: write NODE.PARAM=VALUE (or NODE.PARAM=@file)")
        ref = ref.strip()
        if value.startswith("@"):
            value = _read_set_file(ref, value[1:])
        else:
            _check_utf8(ref, value)
        sets[ref] = value
    return sets


def _check_utf8(ref: str, value: str) -> None:
    # A workflow is UTF-8 JSON (and is embedded in the files it makes): a value that is not
    # text, e.g. a non-UTF-8 byte that Python passed on as a lone surrogate, cannot be in it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise click.UsageError(f"--set {ref}: the value is not UTF-8 text (it holds {value[e.start]!r} at "
                               f"position {e.start}, e.g. a byte from another encoding) — pass UTF-8 "
                               f"text, or save it in a UTF-8 file and use --set {ref}=@FILE") from None


def _read_set_file(ref: str, name: str) -> str:
    """The text of the file named by ``--set ref=@name``: UTF-8, at most 16 MiB, and never a hang
    on a FIFO nobody writes (``@/dev/stdin`` from a pipe still works)."""
    shown = f"--set {ref}=@{name}"
    problem = _path_problem(name)
    if problem:
        raise click.UsageError(f"{shown}: {problem}")
    path = Path(name).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise click.UsageError(f"{shown}: cannot read the file ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise click.UsageError(f"{shown}: {path} is a folder — name a text file")
        if not stat.S_ISREG(mode):
            os.set_blocking(fd, True)  # opened without waiting for a writer; now read what comes
        try:
            data = f.read(_SET_FILE_LIMIT + 1)
        except OSError as e:
            raise click.UsageError(f"{shown}: cannot read the file ({e.strerror})") from None
    if len(data) > _SET_FILE_LIMIT:
        raise click.UsageError(f"{shown}: {path} is larger than 16 MiB, too much for a param — "
                               "give a text file (a script, a prompt), not media or a device")
    if not data and stat.S_ISFIFO(mode):
        raise click.UsageError(f"{shown}: nothing came from {path}: no program writes into it — "
                               "start the writer first, or give a regular file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise click.UsageError(f"{shown}: {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                               f"{e.start}) — save it as UTF-8, e.g. iconv -f latin1 -t utf-8") from None


class _Progress:
    """Relays run events to stderr: rich bars per node on a terminal, plain lines elsewhere."""

    def __init__(self, graph_, compiled, live: bool, quiet: bool):
        self.console = _stderr_console()
        self.compiled = compiled
        self.quiet = quiet
        self.live = live and not quiet
        self.bars = None
        self.tasks: dict[str, Any] = {}
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.bars = Progress(TextColumn("{task.fields[mark]}"), TextColumn("[bold]{task.description}"),
                                 BarColumn(), TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                                 console=self.console, transient=False)
            for node_id in compiled.order:
                label = f"{node_id} [dim]{compiled.nodes[node_id].spec.type}[/]"
                self.tasks[node_id] = self.bars.add_task(label, total=1.0, start=False, mark="·", note="")

    def __enter__(self):
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.stop()

    def __call__(self, ev) -> None:
        if self.bars is not None:
            self._bar(ev)
        elif not self.quiet:
            self._line(ev)

    def _bar(self, ev) -> None:
        task = self.tasks.get(ev.node) if ev.node else None
        if task is None:
            if ev.event == "node_warning":
                self.console.print(f"[yellow]warning[/] {ev.message}")
            return
        b = self.bars
        if ev.event == "node_started":
            b.start_task(task)
            b.update(task, mark="[cyan]▶[/]")
        elif ev.event == "node_progress" and ev.progress is not None:
            b.update(task, completed=ev.progress, note=ev.message or "")
        elif ev.event == "node_finished":
            b.update(task, completed=1.0, mark="[green]✓[/]", note="cached" if ev.cached else "")
            b.stop_task(task)
        elif ev.event == "node_failed":
            b.update(task, mark="[red]✗[/]", note="[red]failed[/]")
            b.stop_task(task)
            self.console.print(f"[red]error[/] {ev.message}")
        elif ev.event == "node_skipped":
            b.update(task, mark="[dim]-[/]", note=f"[dim]{ev.message}[/]")
        elif ev.event == "node_warning":
            self.console.print(f"[yellow]warning[/] {ev.node}: {ev.message}")

    def _line(self, ev) -> None:
        say = self.console.print
        if ev.event == "node_finished":
            say(f"✓ {ev.node} ({'cached' if ev.cached else f'{ev.seconds:.2f}s'})")
        elif ev.event == "node_failed":
            say(f"✗ {ev.message}")
        elif ev.event == "node_skipped":
            say(f"- {ev.node}: {ev.message}")
        elif ev.event == "node_warning":
            say(f"warning {ev.node}: {ev.message}")


def _print_events():
    """One JSON line per event on stdout. When the reader goes away (`| head`, `| grep -q`) the run
    goes on quietly and still writes its outputs: it may have cost minutes of GPU time."""
    closed = False

    def listener(ev) -> None:
        nonlocal closed
        if closed:
            return
        try:
            print(ev.to_json(), flush=True)
        except BrokenPipeError:
            closed = True
            # nothing more reaches the reader; keep Python's exit-time flush from failing too
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
    return listener


def _write_outputs(result, out: Path | None, cached: bool = True) -> list[Path]:
    """Write the run's outputs: one value to OUT, several into the folder OUT. Atomic per file; a
    symlink is written through, a device or FIFO written into (see graph/safe_write.py)."""
    from reelgraph.graph import MediaRef
    encode = _engine().types.encode
    from reelgraph.graph import safe_write
    items = [(f"{n}.{p}", v) for n, ports in result.outputs.items() for p, v in ports.items()]
    if out is None:
        for ref, value in items:
            if isinstance(value, str):
                click.echo(value if len(items) == 1 else f"{ref}: {value}")
            else:
                click.echo(json.dumps({ref: encode(value)}, ensure_ascii=False))
        return []
    if len(items) == 1 and not out.is_dir():
        targets = [(out, items[0][1])]
    else:
        if out.exists() and not out.is_dir():
            raise click.UsageError(f"-o {out}: the workflow has {len(items)} outputs, so -o must name a "
                                   "folder, but this is a file")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            _output_failed(out, e, cached)
        targets = [(out / (ref + (v.ext if isinstance(v, MediaRef) else ".txt" if isinstance(v, str)
                                  else ".json")), v) for ref, v in items]
    written = []
    for path, value in targets:
        try:
            if isinstance(value, MediaRef):
                safe_write.copy_file(value.path, path)
            elif isinstance(value, str):
                safe_write.write_bytes(path, value.encode("utf-8"))
            else:
                text = json.dumps(encode(value), ensure_ascii=False, indent=2) + "\n"
                safe_write.write_bytes(path, text.encode("utf-8"))
        except OSError as e:
            _output_failed(path, e, cached)
        written.append(path)
        srt = value.meta.get("srt") if isinstance(value, MediaRef) else None
        if srt and not safe_write.is_regular_target(path):
            click.echo(f"note: the captions of {path} are not written: -o is not a regular file, so "
                       "there is no folder to put the .srt beside it", err=True)
        elif srt:  # a video with captions: its SubRip file goes beside it
            side = path.with_suffix(".srt")
            try:
                safe_write.write_bytes(side, srt.encode("utf-8"))
            except OSError as e:
                _output_failed(side, e, cached)
            written.append(side)
    return written


# errno -> (what happened, what to do); the path is the user's to change, so these exit 2
_OUTPUT_PATH_ERRORS = {
    errno.EROFS: ("the folder is read-only", "choose another output folder"),
    errno.EACCES: ("permission denied", "choose a folder you can write to"),
    errno.EPERM: ("permission denied", "choose a folder you can write to"),
    errno.ENXIO: ("no program reads from it (or it is a socket)", "start the reader first, or give a file"),
    errno.EISDIR: ("it is a folder", "name a file inside it"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another output path"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter name"),
    errno.ELOOP: ("the symlinks in the path form a loop", "fix the links or choose another path"),
}
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _output_failed(path: Path, e: OSError, cached: bool | None) -> NoReturn:
    """Say why -o could not be written and exit: 2 when the path is unusable, 1 when the disk failed.
    ``cached``: whether the run's results are in the cache (None: no run, nothing to say)."""
    again = ("" if cached is None else " (the results are cached: running again only writes the file)"
             if cached else " (nothing was cached with --no-cache: run again without it to keep results)")
    if e.errno in _OUTPUT_PATH_ERRORS:
        what, fix = _OUTPUT_PATH_ERRORS[e.errno]
        code = EXIT_INVALID
    elif e.errno in _DISK_FULL:
        what, fix, code = "the disk is full", "free some space or choose another output folder", EXIT_FAILED
    else:
        what, fix, code = e.strerror or str(e), "check the disk and run again", EXIT_FAILED
    err = click.ClickException(f"-o {path}: {what} — {fix}{again}")
    err.exit_code = code
    raise err


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reelgraph")
def cli() -> None:
    """reelgraph: node-graph workflows for AI video, from the command line or the editor (`reelgraph ui`)."""
    logging.basicConfig(level=logging.WARNING, format="reelgraph: %(levelname)s: %(message)s")


cache_dir_option = click.option("--cache-dir", type=_path(file_okay=False),
                                help="Cache folder (default: the user cache dir, or $REELGRAPH_CACHE_DIR).")
engine_option = click.option(
    "--engine", default="local", show_default=True, metavar="local|ray",
    help="Where node calls run: local (threads in this process) or ray (a Ray cluster; "
         "pip install 'reelgraph[ray]', see docs/cluster.md).")
address_option = click.option(
    "--address", metavar="auto|HOST:PORT",
    help="With --engine ray: the cluster to join (auto: the one `ray start` runs on this machine). "
         "Without it, a Ray of this command's own is started and stopped.")


def open_executor(g, cache, engine: str, address: str | None, quiet: bool = False):
    """The executor for ``--engine``/``--address``, or a usage error that says what to do."""
    if address and engine == "local":
        raise click.UsageError("--address needs --engine ray")
    if engine != "local" and not quiet:
        click.echo(f"starting the {engine} engine{f' at {address}' if address else ''} ...", err=True)
    try:
        ex = g.LocalExecutor(cache, engine=engine, **({"address": address} if address else {}))
    except ValueError as e:
        raise click.UsageError(f"--engine {engine}: {e}") from None
    if engine != "local" and not quiet:
        click.echo(ex.dispatcher.describe(), err=True)
    return ex


set_option = click.option("--set", "sets", multiple=True, metavar="NODE.PARAM=VALUE",
                          help="Set a param; VALUE may be @file to read it from a file. Repeatable.")


@cli.command()
@click.argument("workflow", type=_path(dir_okay=False), required=False)
@click.option("--from", "from_file", type=_path(dir_okay=False),
              help="Run the workflow embedded in a PNG or MP4 that reelgraph saved.")
@click.option("-o", "--output", "out", type=_path(),
              help="Write the result here (a folder when the workflow has several outputs).")
@set_option
@cache_dir_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--cache-size", metavar="SIZE", help="Bound the cache, e.g. 20GB (default 20GB).")
@click.option("--events", type=click.Choice(["json", "none"]), default="none",
              help="json: print every event as one JSON object per line on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@engine_option
@address_option
def run(workflow: Path | None, from_file: Path | None, out: Path | None, sets, cache_dir, no_cache,
        cache_size, events, quiet, engine, address) -> None:
    """Run WORKFLOW (a workflow JSON file, or a PNG/MP4 that reelgraph saved)."""
    if (workflow is None) == (from_file is None):
        raise click.UsageError("give one workflow: a JSON file, or --from FILE (a PNG/MP4 reelgraph saved)")
    workflow = workflow or from_file
    g = _engine()
    compiled = _compile_or_exit(workflow, sets, restored=from_file is not None, quiet=quiet)
    parse_size = g.parse_size
    try:
        max_bytes = parse_size(cache_size) if cache_size else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--cache-size") from None
    try:
        cache = None if no_cache else g.open_cache(cache_dir if cache_dir else True, max_bytes)
    except ValueError as e:  # e.g. $REELGRAPH_CACHE_SIZE=abc
        raise click.UsageError(f"cache: {e} (check $REELGRAPH_CACHE_SIZE or --cache-size)") from None
    except OSError as e:
        raise click.UsageError(f"cannot open the cache at {e.filename or cache_dir}: {e.strerror} "
                               "(choose another with --cache-dir)") from None
    except g.CacheError as e:
        raise click.UsageError(str(e)) from None
    try:
        # Without a cache the executor keeps media in a scratch store that is removed at exit.
        executor = open_executor(g, cache, engine, address, quiet)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    cancel = g.CancelToken()
    console = _stderr_console()

    def on_sigint(signum, frame):
        # This runs on the main thread between any two bytecodes, possibly in the middle of a rich
        # print or a lazy import: cancel first (thread-safe, reentrant), then say so with a raw
        # write. Printing through rich here once raised ImportError and lost the cancellation.
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        try:
            os.write(2, b"cancelling: running nodes stop at their next step "
                        b"(Ctrl-C again to quit at once)\n")
        except OSError:
            pass

    previous = signal.signal(signal.SIGINT, on_sigint)
    listeners = []
    if events == "json":
        listeners.append(_print_events())
    live = console.is_terminal and events != "json"
    progress = _Progress(g, compiled, live=live, quiet=quiet)
    listeners.append(progress)
    from reelgraph.graph import jobs

    def deliver(result) -> list[Path]:
        # the run driver calls this while the run's media are still protected from eviction
        if events == "json" and out is None:
            return []
        return _write_outputs(result, out, cache is not None)

    try:
        try:
            with progress:
                result, written = jobs.execute(compiled, executor, listeners=listeners, cancel=cancel, deliver=deliver)
        finally:
            signal.signal(signal.SIGINT, previous)
            executor.close()
        _report(result, live, console, cache is not None)
        for path in written or []:
            if not quiet:
                click.echo(f"wrote {path}", err=True)
    finally:
        if cache is not None:
            cache.close()


def _report(result, live, console, cached: bool) -> None:
    """Say why a run that delivered nothing stopped, and exit 130 (cancelled) or 1 (failed)."""
    if result.status == "cancelled":
        console.print("[yellow]cancelled[/]: finished nodes are cached; run again to resume")
        sys.exit(EXIT_CANCELLED)
    if result.failures:
        if not live:
            for f in result.failures:
                click.echo(f"error: {f}", err=True)
        click.echo(f"{len({f.node for f in result.failures})} node(s) failed; "
                   f"{len(result.skipped)} skipped; the rest finished"
                   + (" and is cached" if cached else ""), err=True)
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("file", type=_path(dir_okay=False))
@click.option("-o", "--output", "out", type=_path(dir_okay=False),
              help="Write the workflow JSON here (default: print it).")
def restore(file: Path, out: Path | None) -> None:
    """Get back the workflow embedded in FILE (a PNG or MP4 that reelgraph saved)."""
    g = _engine()
    try:
        wf = g.load(file)
    except g.WorkflowError as e:
        _report_invalid(e)
        sys.exit(EXIT_INVALID)
    if out is None:
        click.echo(wf.to_json(), nl=False)
        return
    from reelgraph.graph import safe_write
    try:
        safe_write.write_bytes(out, wf.to_json().encode("utf-8"))
    except OSError as e:
        _output_failed(out, e, cached=None)
    click.echo(f"wrote {out} ({len(wf.nodes)} nodes)", err=True)


@cli.command()
@click.argument("workflow", type=_path(dir_okay=False))
@set_option
def validate(workflow: Path, sets) -> None:
    """Check WORKFLOW without running it; print every problem (exit 2 if any)."""
    compiled = _compile_or_exit(workflow, sets)
    click.echo(f"{workflow}: valid ({len(compiled.nodes)} nodes, {len(compiled.workflow.edges)} edges)")


@cli.command()
@click.argument("workflow", type=_path(dir_okay=False))
@set_option
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--estimate", "with_estimate", is_flag=True,
              help="Also predict each node's time and peak memory on this machine, and the whole run's.")
def plan(workflow: Path, sets, cache_dir, as_json, with_estimate) -> None:
    """Show which nodes of WORKFLOW would run and which are cached, without running anything."""
    g = _engine()
    if with_estimate:
        _print_estimate(g, workflow, sets, cache_dir, as_json)
        return
    entries = _planned(g, g.plan, workflow, sets, cache_dir)
    if as_json:
        click.echo(json.dumps([e.__dict__ for e in entries], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("node", "type", "status", "why", box=None)
    style = {"cached": "green", "run": "yellow", "partial": "cyan", "maybe": "cyan"}
    for e in entries:
        status = e.status if e.calls is None else f"{e.status} ({e.cached_calls}/{e.calls} cached)"
        table.add_row(e.node, e.type, f"[{style[e.status]}]{status}[/]", e.reason)
    Console(highlight=False).print(table)
    runs = sum(e.status not in ("cached", "maybe") for e in entries)
    maybe = sum(e.status == "maybe" for e in entries)
    click.echo(f"{runs} of {len(entries)} nodes would run" + (f"; {maybe} may be cached" if maybe else ""))


def _planned(g, how, workflow: Path, sets, cache_dir):
    """``g.plan`` or ``g.estimate`` of the workflow with its --set overrides; a bad one exits invalid."""
    try:
        return how(workflow, overrides=_parse_sets(sets), cache=cache_dir or True, from_text=True)
    except g.WorkflowError as e:
        _report_invalid(e)
        sys.exit(EXIT_INVALID)
    except g.CacheError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_INVALID)


def _print_estimate(g, workflow: Path, sets, cache_dir, as_json: bool) -> None:
    from reelgraph.graph import estimates
    fmt_mb, fmt_seconds = estimates.fmt_mb, estimates.fmt_seconds
    est = _planned(g, g.estimate, workflow, sets, cache_dir)
    if as_json:
        click.echo(json.dumps(est.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("node", "status", "time (range)", "RAM", "VRAM", "from", box=None)
    style = {"cached": "green", "run": "yellow", "partial": "cyan", "maybe": "cyan"}
    for n in est.nodes:
        status = n.status
        if n.calls > 1 and n.status != "cached":
            status += f" ×{n.calls}"
        if n.status == "cached":
            time_text = ram = vram = "—"
            source = "cache"
        else:
            time_text = f"{fmt_seconds(n.seconds)} ({fmt_seconds(n.lo)}–{fmt_seconds(n.hi)})"
            ram, vram = fmt_mb(n.ram_mb), fmt_mb(n.vram_mb)
            source = _basis(n.source) + ("" if n.known else ", size unknown")
        if any(w["message"].startswith("will fail") for w in n.warnings):
            if n.calls:
                source += ", will fail (below)"
            else:
                time_text, source = "fails", "see below"
        table.add_row(n.node, f"[{style.get(n.status, 'yellow')}]{status}[/]", time_text, ram, vram, source)
    console = Console(highlight=False)
    console.print(table)
    m = est.machine
    cached = sum(n.status == "cached" for n in est.nodes)
    click.echo(f"whole run: about {fmt_seconds(est.seconds)} ({fmt_seconds(est.lo)}–{fmt_seconds(est.hi)}) "
               f"on this machine ({m['cores']:g} cores), peak RAM {fmt_mb(est.ram_mb)}"
               + (f", peak VRAM {fmt_mb(est.vram_mb)}" if est.vram_mb else "")
               + f"; {cached} of {len(est.nodes)} nodes cached (cost nothing)")
    if not est.measured_calls:
        click.echo("nothing measured on this machine yet: figures are the shipped table's or guesses; "
                   "every run measures its nodes and sharpens the next estimate")
    for w in est.warnings:
        click.echo(f"warning: {w['node']}: {w['message']} — {w['fix']}", err=True)


def _basis(source: str) -> str:
    """A few words on where an estimate comes from (the JSON has the whole text)."""
    parts = []
    for part in source.split("; "):
        if part.startswith("measured here"):
            parts.append("measured" + (" (typical)" if "typical" in part else ""))
        elif part.startswith("table:"):
            parts.append("table " + part.split(" on ", 1)[-1].split(" ", 1)[0])
        elif part.startswith("guess"):
            parts.append("guess")
        elif part:
            parts.append(part)
    return ", ".join(dict.fromkeys(parts))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full catalog (what the editor reads).")
def nodes(as_json: bool) -> None:
    """List the node types this installation knows."""
    g = _engine()
    catalog = g.default_registry().catalog()
    if as_json:
        click.echo(json.dumps(catalog, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(box=None)
    table.add_column("type", no_wrap=True)
    table.add_column("version", no_wrap=True)
    for name in ("inputs", "params", "outputs", "what it does"):
        table.add_column(name)

    def ports(items):
        return ", ".join(f"{p['name']}: {p['type']}" for p in items)

    for n in catalog["nodes"]:
        table.add_row(n["type"], n["version"], ports(n["inputs"]), ports(n["params"]),
                      ports(n["outputs"]), n["tooltip"])
    Console(highlight=False).print(table)
    for problem in catalog["problems"]:
        click.echo(f"warning: {problem}", err=True)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the workflow format."""
    click.echo(json.dumps(_engine().json_schema(), indent=2))


@cli.command()
@click.argument("workflow", type=_path(dir_okay=False, exists=True), required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --auth.")
@click.option("--port", type=int, default=None, help="Port (default: 7860, or the next free one).")
@click.option("--workspace", type=_path(file_okay=False),
              help="Folder for uploads and relative file paths (default: the user data dir).")
@click.option("--auth", metavar="USER:PASSWORD", help="Require this login (needed beyond loopback).")
@click.option("--open", "open_browser", is_flag=True, help="Open the editor in the default browser.")
@click.option("--share", is_flag=True,
              help="Also open a public Gradio share link (needs --auth). Never opened otherwise.")
@click.option("--max-upload", metavar="SIZE",
              help="Largest file the editor accepts, e.g. 500MB or 4GiB (default: $REELGRAPH_MAX_UPLOAD or 1GiB).")
@cache_dir_option
def ui(workflow: Path | None, host: str, port: int | None, workspace: Path | None, auth: str | None,
       open_browser: bool, share: bool, max_upload: str | None, cache_dir: Path | None) -> None:
    """Open the visual editor in the browser (the storyboard workflow, or WORKFLOW, loaded)."""
    try:
        from reelgraph.ui import app
    except ImportError as e:
        raise click.ClickException(f"the editor needs Gradio ({e.name} is missing): "
                                   "pip install 'reelgraph[ui]'") from None
    creds = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise click.BadParameter("use USER:PASSWORD", param_hint="--auth")
        creds = (user, password)
    if share and creds is None:
        raise click.UsageError("--share puts the editor on the internet: add --auth USER:PASSWORD")
    try:
        upload_bytes = app.upload_limit(max_upload)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if workflow is not None:
        try:
            _engine().load(workflow)
        except Exception as e:  # noqa: BLE001 - WorkflowError or unreadable media: the message, never a traceback
            raise click.ClickException(f"cannot open {workflow}: {e}") from None
    try:
        app.launch(host=host, port=port, workspace=workspace, workflow=workflow, auth=creds,
                   open_browser=open_browser, cache=cache_dir or True, share=share, max_upload=upload_bytes)
    except app.EditorError as e:
        raise click.ClickException(str(e)) from None


@cli.group()
def cache() -> None:
    """Inspect or clear the result cache."""


def _open_cache_or_exit(cache_dir):
    """The cache, or one line saying why it cannot be used and exit 2."""
    g = _engine()
    try:
        return g.open_cache(cache_dir or True)
    except g.CacheError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_INVALID)
    except ValueError as e:  # $REELGRAPH_CACHE_SIZE=abc
        click.echo(f"error: cache: {e} (check $REELGRAPH_CACHE_SIZE)", err=True)
        sys.exit(EXIT_INVALID)


@cache.command("info")
@cache_dir_option
def cache_info(cache_dir) -> None:
    """Where the cache is and how big."""
    with _open_cache_or_exit(cache_dir) as c:
        mode = " (read-only)" if c.read_only else ""
        click.echo(f"{c.root}{mode}: {c.count()} results, {c.size() / 2**20:.1f} MiB of "
                   f"{c.max_bytes / 2**30:.1f} GiB")


@cache.command("verify")
@cache_dir_option
def cache_verify(cache_dir) -> None:
    """Check every cached media file against its digest and every result; remove what is damaged
    (it re-renders on the next run). Exit 1 when something was damaged."""
    with _open_cache_or_exit(cache_dir) as c:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
        console = _stderr_console()
        with Progress(BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=console,
                      disable=not console.is_terminal, transient=True) as bar:
            task = bar.add_task("verify", total=None)
            report = c.verify(progress=lambda done, total: bar.update(task, completed=done, total=total))
    size = f"{report.bytes / 2**20:.1f} MiB"
    click.echo(f"checked {report.objects} media files ({size}) and {report.results} results "
               f"in {report.seconds:.1f} s")
    if report.ok:
        click.echo("all intact")
        return
    click.echo(f"{len(report.damaged_objects)} damaged media file(s) removed; {report.dropped_results} "
               "result(s) that needed them were dropped and will re-render on the next run")
    sys.exit(EXIT_FAILED)


@cache.command("clear")
@cache_dir_option
def cache_clear(cache_dir) -> None:
    """Delete every cached result and media file."""
    with _open_cache_or_exit(cache_dir) as c:
        c.clear()
        click.echo(f"cleared {c.root}")


@cli.group()
def models() -> None:
    """Model presets for the diffusers backend: list them, download them."""


@models.command("list")
@click.option("--task", type=click.Choice(["text_to_image", "image_to_video", "upscale", "music", "speech",
                                           "text"]), help="Only presets of this task.")
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON (with where each one is).")
def models_list(task: str | None, as_json: bool) -> None:
    """Every preset: task, size, VRAM tier, licence, and whether its weights are on this machine."""
    from reelgraph.nodes.models import device, presets
    tier = device.probe().tier
    rows = [p for p in presets.presets().values() if task is None or p.task == task]
    defaults = {(t, pid) for t, by_tier in presets._file().defaults.items() for pid in [by_tier.get(tier)] if pid}
    if as_json:
        click.echo(json.dumps({"device": {"tier": tier, "name": device.probe().name},
                               "hub_cache": str(presets.hub_cache()),
                               "presets": [{**p.model_dump(), "local_path": _str_or_none(presets.is_present(p)),
                                            "default_here": (p.task, p.id) in defaults} for p in rows]},
                              indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(box=None, title=f"model presets (this machine: {device.probe().name}, {tier} tier)",
                  title_justify="left")
    for name in ("id", "task", "tier", "VRAM GB", "download GB", "licence", "commercial", "here"):
        table.add_column(name, no_wrap=True, justify="right" if name.endswith("GB") else "left")
    for p in rows:
        here = "yes" if presets.is_present(p) else "-"
        mark = " *" if (p.task, p.id) in defaults else ""
        table.add_row(p.id + mark, p.task, p.tier, f"{p.vram_gb:g}", f"{p.download_gb:g}",
                      p.license, p.commercial_text, here)
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(table)
    click.echo(f"* the default for its task on this machine. Weights live in {presets.hub_cache()} "
               "(HF_HOME / HF_HUB_CACHE) or $REELGRAPH_MODELS/<id>. Get one: reelgraph models pull ID")


def _str_or_none(path) -> str | None:
    return None if path is None else str(path)


@models.command("pull")
@click.argument("preset_ids", metavar="ID...", nargs=-1, required=True)
def models_pull(preset_ids: tuple[str, ...]) -> None:
    """Download presets into the Hugging Face cache (with a progress bar); already there: nothing to do."""
    from reelgraph.graph import NodeError
    from reelgraph.nodes.models import presets
    known = presets.presets()
    unknown = [i for i in preset_ids if i not in known]
    if unknown:
        raise click.BadParameter(f"unknown preset {', '.join(unknown)}; see: reelgraph models list",
                                 param_hint="ID")
    for pid in preset_ids:
        preset = known[pid]
        if presets.is_present(preset):
            click.echo(f"{pid}: already here ({presets.is_present(preset)})", err=True)
            continue
        if preset.commercial is not True:
            use = "non-commercial" if preset.commercial is False else "limited commercial use"
            click.echo(f"{pid}: licence {preset.license} ({use}); "
                       "read the model card before you publish what it makes", err=True)
        click.echo(f"{pid}: downloading {preset.repo}@{preset.revision} (about {preset.download_gb:g} GB) "
                   f"into {presets.hub_cache()}", err=True)
        try:
            path = presets.pull(preset, progress=sys.stderr.isatty())
        except NodeError as e:
            raise click.ClickException(f"{pid}: {e.message} — {e.fix}") from None
        except Exception as e:  # noqa: BLE001 - network, auth (gated repos), disk: many libraries raise
            hint = " (a gated model: accept its licence on huggingface.co and run `hf auth login`)" \
                if "401" in str(e) or "403" in str(e) or "gated" in str(e).lower() else ""
            raise click.ClickException(f"{pid}: download failed: {e}{hint}") from None
        click.echo(f"{pid}: ready at {path}")


from .jobs_cli import register as _register_job_commands  # noqa: E402 - after the group exists

_register_job_commands(cli, engine_option, address_option)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_CANCELLED)


if __name__ == "__main__":
    main()
