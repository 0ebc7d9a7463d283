"""NodeCanvas: the gr.HTML component that mounts the Svelte Flow bundle (ui/static/canvas.js).

The bundle is built from ui/frontend/ (``make frontend``) and committed, so pip users need no Node.
The contract between this component and the bundle is docs/editor-protocol.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.events import EventListener

STATIC_DIR = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC_DIR / "canvas.js"

# Gradio re-renders an HTML component's template only when its text changes: a constant template
# means the bundle's DOM is never touched by Gradio after mounting.
TEMPLATE = '<div class="rg-editor"></div>'

# js_on_load is not async: import() and hand the bundle what it needs. The event names are quoted
# here so Gradio knows this component fires them: 'graph_edit' 'run' 'stop'.
JS_ON_LOAD = """
const root = (window.gradio_config && window.gradio_config.root) || window.location.origin;
import(root + '/gradio_api/file=' + props.bundle)
  .then((m) => m.mount(element, {props, trigger, server, upload, watch, root}))
  .catch((e) => {
    console.error('reelgraph canvas failed to load', e);
    element.innerHTML = '<p style="color:#f87171;padding:1em">The canvas failed to load: ' + e +
      '. Rebuild it with <code>make frontend</code>.</p>';
  });
"""


def bundle_url_path() -> str:
    """The bundle's path for Gradio's file route, with a content hash so browsers re-fetch new builds."""
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()[:12] if BUNDLE.exists() else "missing"
    return f"{BUNDLE}?v={digest}"


class NodeCanvas(gr.HTML):
    """The node canvas: palette, graph, inspector and toolbar, drawn by the Svelte Flow bundle."""

    # Gradio rebuilds the component from these keyword arguments on every gr.update(...), so each
    # prop is a real parameter here (not only a key in **props).
    def __init__(self, value: dict | None = None, *, catalog: dict | None = None,
                 run_state: dict | None = None, examples: list | None = None, bundle: str | None = None,
                 server_functions: Sequence[Callable] | None = None, **kwargs: Any):
        kwargs.setdefault("html_template", TEMPLATE)
        kwargs.setdefault("js_on_load", JS_ON_LOAD)
        kwargs.setdefault("apply_default_css", False)
        super().__init__(value=value, catalog=catalog, run_state=run_state, examples=examples,
                         bundle=bundle, server_functions=list(server_functions or []), **kwargs)

    def api_info(self) -> dict[str, Any]:
        return {"type": "object", "description": "a reelgraph workflow (docs/workflow-format)"}

    # The bundle's custom events (docs/editor-protocol.md, "Events").
    def graph_edit(self, fn: Callable, **kwargs: Any):
        return EventListener(event_name="graph_edit").listener(self, fn, **kwargs)

    def run(self, fn: Callable, **kwargs: Any):
        return EventListener(event_name="run").listener(self, fn, **kwargs)

    def stop(self, fn: Callable, **kwargs: Any):
        return EventListener(event_name="stop").listener(self, fn, **kwargs)
