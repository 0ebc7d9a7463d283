"""The editor: a Gradio app around the node canvas (``reelgraph ui``).

    from reelgraph.ui.app import build_app, launch
    launch(port=7860)                      # what `reelgraph ui` does
    demo, opts = build_app(workspace)      # for tests: demo.launch(**opts, prevent_thread_lock=True)

The headless API endpoint ``/run_workflow`` takes workflow JSON and returns the run's files:

    from gradio_client import Client
    files = Client("http://127.0.0.1:7860/").predict(open("wf.json").read(), api_name="/run_workflow")
"""

from __future__ import annotations

import hmac
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home (and no network here)

import gradio as gr  # noqa: E402
from reelgraph.graph import Cache, WorkflowError, load, parse_size  # noqa: E402
from reelgraph.graph import types as t  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from .canvas import STATIC_DIR, NodeCanvas, bundle_url_path  # noqa: E402
from .session import DEFAULT_MAX_UPLOAD, KEEP_SESSIONS, MAX_WORKFLOW, Editor, EditorError, size_text  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_WORKFLOW = "storyboard_to_clip"

# Page chrome around the canvas: dark, full width, no wasted margins.
CSS = """
.gradio-container { max-width: 100% !important; padding: 8px clamp(4px, 3.6vw - 14px, 14px) !important; }
#rg-canvas { padding: 0 !important; }
#rg-output video { max-height: 420px; }
footer { opacity: .6; }
/* a tablet or a phone gives Gradio's margins to the editor (Gradio scopes this CSS's @media rules to
   .contain, so the page's own paddings shrink with clamp(): unchanged from about 1150 px up) */
.gradio-container > .main.app { padding-left: clamp(0px, 8vw - 60px, 32px) !important;
  padding-right: clamp(0px, 8vw - 60px, 32px) !important; }
@media (max-width: 1099px) { #rg-canvas .html-container { padding-left: 0 !important; padding-right: 0 !important; } }
"""
# Dark by default, like most node editors (Gradio styles dark mode through the .dark class). Gradio's
# Settings > Display Theme reloads the page with ?__theme=light or dark and applies it itself: then
# it is left alone (the canvas follows the class, ui/frontend/src/lib/appearance.svelte.js).
JS = """() => {
  if (!new URLSearchParams(location.search).get('__theme')) document.body.classList.add('dark');
  document.documentElement.style.colorScheme = document.body.classList.contains('dark') ? 'dark' : 'light';
}"""

THEME = gr.themes.Base(
    primary_hue="orange", neutral_hue="slate",
    # System fonts: no web-font downloads, so the page is ready at once (and works offline).
    font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def initial_workflow(source: str | os.PathLike | None) -> dict:
    if source is None:
        from reelgraph import workflows
        source = workflows.path(DEFAULT_WORKFLOW)
    return load(source).to_dict()


# ---------------------------------------------------------------------------------------------- limits
def upload_limit(value: str | int | None = None) -> int:
    """The largest upload in bytes: ``value`` (``--max-upload``), else $REELGRAPH_MAX_UPLOAD, else
    1 GiB. A bad size raises ValueError naming where it came from."""
    source = "--max-upload"
    if value is None or value == "":
        value, source = os.environ.get("REELGRAPH_MAX_UPLOAD") or None, "$REELGRAPH_MAX_UPLOAD"
        if value is None:
            return DEFAULT_MAX_UPLOAD
    try:
        limit = parse_size(value)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    if limit <= 0:
        raise ValueError(f"{source}: the upload limit must be above 0 bytes, e.g. 500MB or 2GiB")
    return limit


def login_check(creds: tuple[str, str]) -> Callable[[str, str], bool]:
    """Gradio's ``auth`` callable for one login: name and password both compared in constant time
    (and both always compared), so timing tells neither which names exist nor how much matched."""
    user, password = (c.encode("utf-8", "surrogatepass") for c in creds)

    def check(username: str, given: str) -> bool:
        name_ok = hmac.compare_digest(str(username).encode("utf-8", "surrogatepass"), user)
        password_ok = hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"), password)
        return name_ok and password_ok

    return check


class _Record:
    __slots__ = ("failures", "last")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0


class LoginThrottle:
    """Failed logins, counted per client address and overall.

    A client has ``FREE_FAILURES`` tries; then each further try waits ``FIRST_WAIT`` seconds after
    its last one, doubling with every failure (up to ``LONGEST_WAIT``). All clients together have
    ``OVERALL_FAILURES`` before the same holds for everyone, so guessing from many addresses gains
    nothing. Failures are forgotten after ``FORGET_AFTER`` quiet seconds, and a client's after it
    logs in. An attempt counts as a failure from the moment it starts (until it succeeds), so a
    burst of parallel tries gets no more than a slow series.
    """

    FREE_FAILURES = 5
    OVERALL_FAILURES = 50
    FIRST_WAIT = 2.0
    LONGEST_WAIT = 900.0
    FORGET_AFTER = 3600.0
    MAX_CLIENTS = 10_000  # addresses remembered; the oldest are forgotten first

    def __init__(self, *, free_failures: int | None = None, overall_failures: int | None = None,
                 max_clients: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.free = free_failures or self.FREE_FAILURES
        self.overall_free = overall_failures or self.OVERALL_FAILURES
        self.max_clients = max_clients or self.MAX_CLIENTS
        self._clock = clock
        self._clients: OrderedDict[str, _Record] = OrderedDict()
        self._overall = _Record()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients)

    def _until(self, rec: _Record, free: int, now: float) -> float:
        if now - rec.last > self.FORGET_AFTER:
            rec.failures = 0
        if rec.failures < free:
            return 0.0
        return rec.last + min(self.LONGEST_WAIT, self.FIRST_WAIT * 2 ** min(rec.failures - free, 30))

    def attempt(self, client: str) -> float:
        """0 when ``client`` may try now (the try is counted), else the seconds it must wait."""
        with self._lock:
            now = self._clock()
            rec = self._clients.get(client)
            if rec is None:
                rec = self._clients[client] = _Record()
                while len(self._clients) > self.max_clients:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(client)
            wait = max(self._until(rec, self.free, now), self._until(self._overall, self.overall_free, now)) - now
            if wait > 0:
                return wait
            for r in (rec, self._overall):
                r.failures += 1
                r.last = now
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
            self._overall.failures = max(0, self._overall.failures - 1)

    def forgive(self, client: str) -> None:
        """The try tested no password (a malformed request): it does not count."""
        with self._lock:
            for r in (self._clients.get(client), self._overall):
                if r is not None:
                    r.failures = max(0, r.failures - 1)


async def _reply(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware in front of Gradio: bounds request bodies (uploads by the upload limit,
    everything else by what a workflow can need) before they are read, and throttles ``/login``."""

    def __init__(self, app, *, throttle: LoginThrottle, max_workflow: int, max_upload: int):
        self.app = app
        self.throttle = throttle
        self.max_workflow = max_workflow
        # a JSON string may escape every character of a workflow (twice the bytes), plus the envelope
        self.max_body = 2 * max_workflow + (64 << 10)
        self.max_upload = max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = str(scope.get("path", "")).rstrip("/")
        if path.endswith("/upload"):
            limit = self.max_upload + (1 << 20)  # the file plus its multipart framing
            too_large = (f"upload too large: the editor takes files up to {size_text(self.max_upload)} "
                         "(start it with a larger --max-upload, or set $REELGRAPH_MAX_UPLOAD)")
        else:
            limit = self.max_body
            too_large = f"request too large: the editor takes workflows up to {size_text(self.max_workflow)}"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _reply(send, 413, too_large)
        seen = 0

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # a chunked body has no length to check up front
                raise HTTPException(413, too_large)
            return message

        if scope.get("method") != "POST" or not path.endswith("/login"):
            return await self.app(scope, bounded_receive, send)
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.throttle.attempt(client)
        if wait > 0:
            seconds = math.ceil(wait)
            return await _reply(send, 429, f"too many failed logins; wait {seconds} s",
                                {"Retry-After": str(seconds)})
        status = None

        async def noting_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, bounded_receive, noting_send)
        finally:
            if status == 200:
                self.throttle.succeeded(client)
            elif status != 400:  # 400: wrong name or password; anything else tested none
                self.throttle.forgive(client)


def _refused(editor: Editor, value: Any, session: str, message: str, issues: list | None = None) -> dict:
    state = editor.check(value, session)
    state["status"] = "idle"
    state["refused"] = True  # the canvas then knows its Run got its answer
    state["message"] = message
    if issues is not None:
        state["issues"] = issues
    return state


def _gradio_i18n() -> gr.I18n:
    """The Gradio panels' labels from the editor's translation files (Gradio picks by browser locale)."""
    folder = Path(__file__).parent / "i18n"
    tables = {}
    for lang, name in (("en", "en.json"), ("zh-CN", "zh-CN.json")):
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        tables[lang] = {k: v for k, v in data.items() if k in ("app.output", "app.files")}
    return gr.I18n(**tables)


def build_app(workspace: str | os.PathLike, *, workflow: str | os.PathLike | None = None,
              cache: bool | str | os.PathLike | Cache = True, runs_dir: str | os.PathLike | None = None,
              auth: tuple[str, str] | None = None, max_upload: int | str | None = None,
              max_workflow: int = MAX_WORKFLOW, throttle: LoginThrottle | None = None) -> tuple[gr.Blocks, dict]:
    """The editor app and the keyword arguments for its ``launch()``.

    ``max_upload``: the largest upload (bytes or a size such as ``"2GiB"``; default
    $REELGRAPH_MAX_UPLOAD or 1 GiB); ``max_workflow``: the largest workflow JSON it takes."""
    try:
        upload_bytes = upload_limit(max_upload)
    except ValueError as e:
        raise EditorError(str(e)) from None
    editor = Editor(workspace, runs_dir=runs_dir, cache=cache, max_upload=upload_bytes, max_workflow=max_workflow)
    start_graph = initial_workflow(workflow)
    upload_root = gr.utils.get_upload_folder()

    # Server functions: one dict in, one dict out (docs/editor-protocol.md).
    def open_file(p: dict) -> dict:
        return editor.open_file(p.get("path"), str(p.get("name") or ""), upload_root)

    def open_text(p: dict) -> dict:
        return editor.open_text(p.get("text"), str(p.get("name") or "workflow.json"))

    def save(p: dict) -> dict:
        return editor.save(p.get("graph"))

    def import_media(p: dict) -> dict:
        return editor.import_media(p.get("path"), str(p.get("name") or ""), upload_root, p.get("url"))

    def load_example(p: dict) -> dict:
        return editor.load_example(p.get("id"))

    def list_workflows(p: dict) -> dict:
        return {"ok": True, "workflows": editor.workspace_workflows()}

    def save_workflow(p: dict) -> dict:
        return editor.save_workflow((p or {}).get("graph"), (p or {}).get("file"), bool((p or {}).get("overwrite")))

    def open_workflow(p: dict) -> dict:
        return editor.open_workflow((p or {}).get("file"))

    def storyboard(p: dict) -> dict:
        return editor.storyboard((p or {}).get("graph"), (p or {}).get("node"))

    def edit_shot(p: dict) -> dict:
        p = p or {}
        return editor.edit_shot(p.get("graph"), p.get("node"), p.get("shot"), p.get("field"), p.get("value"))

    def history(p: dict) -> dict:
        return {"ok": True, "runs": editor.history()}

    def open_run(p: dict) -> dict:
        return editor.open_run((p or {}).get("run"))

    def autosave(p: dict) -> dict:
        return editor.autosave(p.get("client"), p.get("graph"), p.get("base"))

    def restore(p: dict) -> dict:
        return editor.restore(p.get("client"), p.get("base"))

    gr.set_static_paths([str(STATIC_DIR)])
    i18n = _gradio_i18n()
    with gr.Blocks(title="reelgraph", fill_width=True) as demo:
        canvas = NodeCanvas(value=start_graph, catalog=editor.catalog, run_state=editor.check(start_graph),
                            examples=editor.examples(), bundle=bundle_url_path(), elem_id="rg-canvas",
                            server_functions=[open_file, open_text, save, import_media, load_example,
                                              autosave, restore, list_workflows, save_workflow,
                                              open_workflow, history, open_run, storyboard, edit_shot])
        with gr.Row(equal_height=False):
            video = gr.Video(label=i18n("app.output"), elem_id="rg-output", interactive=False, scale=3,
                             buttons=["download"], loop=True, min_width=320)  # a phone: stacked, full width
            files = gr.File(label=i18n("app.files"), file_count="multiple", interactive=False,
                            scale=2, elem_id="rg-files", min_width=320)

        def on_edit(value: Any, request: gr.Request):
            session = request.session_hash or ""
            state = editor.check(value, session)
            # the player and the file list show a run's results only while the canvas still has
            # the node that made them, unchanged (not after clearing, opening another workflow...)
            if state.get("output") is None and editor.showing.pop(session, None):
                return gr.update(run_state=state), None, None
            return gr.update(run_state=state), gr.skip(), gr.skip()

        def on_run(value: Any, request: gr.Request):
            session = request.session_hash or ""
            targets = canvas_now = None
            if isinstance(value, dict) and ("run_targets" in value or "run_canvas" in value):
                # beside the graph, never in it: "Run to here", and the canvas when a queued run
                # (or a take with another seed) differs from it
                value = dict(value)
                targets = value.pop("run_targets", None)
                targets = targets if isinstance(targets, list) or targets is None else [targets]
                canvas_now = value.pop("run_canvas", None)
            try:
                run = editor.start(value, session, targets, canvas_now)
            except WorkflowError as e:
                n = len(e.issues)
                yield (gr.update(run_state=_refused(
                    editor, value, session, f"Not run: {n} problem{'s' if n != 1 else ''} to fix first — "
                    f"{e.issues[0]}", [i.to_dict() for i in e.issues])), gr.skip(), gr.skip())
                return
            except EditorError as e:
                yield gr.update(run_state=_refused(editor, value, session, f"Not run: {e}")), gr.skip(), gr.skip()
                return
            state: dict = run.state
            for state in editor.states(run):
                if run.running:
                    yield gr.update(run_state=state), gr.skip(), gr.skip()
            # a run without a video (failed, stopped, no output node) clears the last one's, and so
            # does one whose output node was edited while it ran (its video is the old graph's)
            shown = run.output_path if state.get("output") else None
            if shown:
                editor.showing[session] = run.id
            else:
                editor.showing.pop(session, None)
            outdated = run.output_path is not None and shown is None
            yield (gr.update(run_state=state), str(shown) if shown else None,
                   None if outdated else [str(p) for p in run.outputs] or None)

        def on_stop(request: gr.Request):
            editor.stop(request.session_hash or "")

        canvas.graph_edit(on_edit, inputs=canvas, outputs=[canvas, video, files], show_progress="hidden",
                          concurrency_limit=None, api_visibility="private")
        # Stale/cached marks as of this page load (the cache may have filled since the app started).
        demo.load(on_edit, inputs=canvas, outputs=[canvas, video, files], show_progress="hidden",
                  api_visibility="private")
        # "multiple": a Run sent right as the last one ends (the canvas's queue) is never dropped
        canvas.run(on_run, inputs=canvas, outputs=[canvas, video, files], show_progress="hidden",
                   concurrency_limit=8, api_visibility="private", trigger_mode="multiple")
        canvas.stop(on_stop, show_progress="hidden", concurrency_limit=None, api_visibility="private")

        # The headless endpoint: the same validation and executor as the canvas's Run.
        def run_workflow(workflow_json: str, request: gr.Request) -> list[str]:
            """Run a reelgraph workflow (its JSON text) and return the files it produced."""
            session = "api-" + (request.session_hash or os.urandom(6).hex())
            try:
                run, state = editor.run_blocking(workflow_json, session)
            except WorkflowError as e:
                raise gr.Error("invalid workflow: " + "; ".join(str(i) for i in e.issues)) from None
            except EditorError as e:
                raise gr.Error(str(e)) from None
            if run.result is None or run.result.status != "ok":
                raise gr.Error(state.get("message") or "the run failed")
            summary = run.folder / "outputs.json"
            summary.write_text(json.dumps(
                {n: {p: t.encode(v) for p, v in ports.items()} for n, ports in run.result.outputs.items()},
                indent=2, ensure_ascii=False, default=str), encoding="utf-8")
            return [str(p) for p in run.outputs] + [str(summary)]

        api_in = gr.Textbox(visible=False, label="workflow JSON")
        api_out = gr.File(visible=False, file_count="multiple", label="output files")
        gr.Button(visible=False).click(run_workflow, api_in, api_out, api_name="run_workflow",
                                       concurrency_limit=4)

    guard = Middleware(Guard, throttle=throttle or LoginThrottle(), max_workflow=max_workflow,
                       max_upload=upload_bytes)
    opts = {"allowed_paths": [str(editor.runs_dir)], "theme": THEME, "css": CSS, "js": JS, "i18n": i18n,
            "footer_links": ["api", "settings"], "auth": login_check(auth) if auth else None, "show_error": True,
            # never a public tunnel by accident ($GRADIO_SHARE, a hosted notebook): launch() opens
            # one only when asked, and only with a login
            "share": False, "max_file_size": upload_bytes, "app_kwargs": {"middleware": [guard]},
            # Gradio keeps each session's last component updates (run_state) in memory
            "state_session_capacity": KEEP_SESSIONS}
    demo.editor = editor  # for tests and embedding
    return demo, opts


def launch(*, host: str = "127.0.0.1", port: int | None = None, workspace: str | os.PathLike | None = None,
           workflow: str | os.PathLike | None = None, auth: tuple[str, str] | None = None,
           open_browser: bool = False, cache: bool | str | os.PathLike | Cache = True, share: bool = False,
           max_upload: int | str | None = None) -> None:
    if host not in LOOPBACK and auth is None:
        raise EditorError(f"listening on {host} lets other machines in: set --auth USER:PASSWORD "
                          "(or keep the default 127.0.0.1)")
    if share and auth is None:
        raise EditorError("a share link puts the editor on the internet: set --auth USER:PASSWORD with --share")
    ws = Path(workspace) if workspace is not None else default_workspace()
    demo, opts = build_app(ws, workflow=workflow, cache=cache, auth=auth, max_upload=max_upload)
    opts["share"] = share
    print(f"reelgraph editor — workspace {Path(ws).resolve()} (uploads and relative paths live here)")
    demo.queue(default_concurrency_limit=None).launch(server_name=host, server_port=port,
                                                      inbrowser=open_browser, **opts)


def default_workspace() -> Path:
    from platformdirs import user_data_dir
    return Path(user_data_dir("reelgraph")) / "workspace"
