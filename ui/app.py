"""The editor: a Gradio app around the node canvas (``reelgraph ui``).

    from reelgraph.ui.app import build_app, launch
    launch(port=7860)                      # what `reelgraph ui` does
    demo, opts = build_app(workspace)      # for tests: demo.launch(**opts, prevent_thread_lock=True)

The headless API endpoint ``/run_workflow`` takes workflow JSON and returns the run's files:

    from gradio_client import Client
    files = Client("http://127.0.0.1:7860/").predict(open("wf.json").read(), api_name="/run_workflow")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home (and no network here)

import gradio as gr  # noqa: E402
from reelgraph.graph import api  # noqa: E402
from reelgraph.graph import types as t  # noqa: E402
from reelgraph.graph.cache import Cache  # noqa: E402
from reelgraph.graph.errors import WorkflowError  # noqa: E402

from .canvas import STATIC_DIR, NodeCanvas, bundle_url_path  # noqa: E402
from .session import Editor, EditorError  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_WORKFLOW = "storyboard_to_clip"

# Page chrome around the canvas: dark, full width, no wasted margins.
CSS = """
.gradio-container { max-width: 100% !important; padding: 8px 14px !important; }
#rg-canvas { padding: 0 !important; }
#rg-output video { max-height: 420px; }
footer { opacity: .6; }
"""
# Dark by default, like most node editors (Gradio styles dark mode through the .dark class).
JS = "() => { document.body.classList.add('dark'); document.documentElement.style.colorScheme = 'dark'; }"

THEME = gr.themes.Base(
    primary_hue="orange", neutral_hue="slate",
    # System fonts: no web-font downloads, so the page is ready at once (and works offline).
    font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def initial_workflow(source: str | os.PathLike | None) -> dict:
    if source is None:
        from reelgraph import workflows
        source = workflows.path(DEFAULT_WORKFLOW)
    return api.load(source).to_dict()


def _refused(editor: Editor, value: Any, session: str, message: str, issues: list | None = None) -> dict:
    state = editor.check(value, session)
    state["status"] = "idle"
    state["message"] = message
    if issues is not None:
        state["issues"] = issues
    return state


def build_app(workspace: str | os.PathLike, *, workflow: str | os.PathLike | None = None,
              cache: bool | str | os.PathLike | Cache = True, runs_dir: str | os.PathLike | None = None,
              auth: tuple[str, str] | None = None) -> tuple[gr.Blocks, dict]:
    """The editor app and the keyword arguments for its ``launch()``."""
    editor = Editor(workspace, runs_dir=runs_dir, cache=cache)
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

    gr.set_static_paths([str(STATIC_DIR)])
    with gr.Blocks(title="reelgraph", fill_width=True) as demo:
        canvas = NodeCanvas(value=start_graph, catalog=editor.catalog, run_state=editor.check(start_graph),
                            examples=editor.examples(), bundle=bundle_url_path(), elem_id="rg-canvas",
                            server_functions=[open_file, open_text, save, import_media, load_example])
        with gr.Row(equal_height=False):
            video = gr.Video(label="Output", elem_id="rg-output", interactive=False, scale=3,
                             buttons=["download"], loop=True)
            files = gr.File(label="Files of the last run", file_count="multiple", interactive=False,
                            scale=2, elem_id="rg-files")

        def on_edit(value: Any, request: gr.Request):
            return gr.update(run_state=editor.check(value, request.session_hash or ""))

        def on_run(value: Any, request: gr.Request):
            session = request.session_hash or ""
            try:
                run = editor.start(value, session)
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
            yield (gr.update(run_state=state),
                   str(run.output_path) if run.output_path else gr.skip(),
                   [str(p) for p in run.outputs] or gr.skip())

        def on_stop(request: gr.Request):
            editor.stop(request.session_hash or "")

        canvas.graph_edit(on_edit, inputs=canvas, outputs=canvas, show_progress="hidden",
                          concurrency_limit=None, api_visibility="private")
        # Stale/cached marks as of this page load (the cache may have filled since the app started).
        demo.load(on_edit, inputs=canvas, outputs=canvas, show_progress="hidden", api_visibility="private")
        canvas.run(on_run, inputs=canvas, outputs=[canvas, video, files], show_progress="hidden",
                   concurrency_limit=8, api_visibility="private")
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

    opts = dict(allowed_paths=[str(editor.runs_dir)], theme=THEME, css=CSS, js=JS,
                footer_links=["api", "settings"], auth=auth, show_error=True)
    demo.editor = editor  # for tests and embedding
    return demo, opts


def launch(*, host: str = "127.0.0.1", port: int | None = None, workspace: str | os.PathLike | None = None,
           workflow: str | os.PathLike | None = None, auth: tuple[str, str] | None = None,
           open_browser: bool = False, cache: bool | str | os.PathLike | Cache = True) -> None:
    if host not in LOOPBACK and auth is None:
        raise EditorError(f"listening on {host} lets other machines in: set --auth USER:PASSWORD "
                          "(or keep the default 127.0.0.1)")
    ws = Path(workspace) if workspace is not None else default_workspace()
    demo, opts = build_app(ws, workflow=workflow, cache=cache, auth=auth)
    print(f"reelgraph editor — workspace {Path(ws).resolve()} (uploads and relative paths live here)")
    demo.queue(default_concurrency_limit=None).launch(server_name=host, server_port=port,
                                                      inbrowser=open_browser, **opts)


def default_workspace() -> Path:
    from platformdirs import user_data_dir
    return Path(user_data_dir("reelgraph")) / "workspace"
