"""The editor in a real browser: what a user does on the canvas, end to end.

Debian's chromium, driven by playwright, against the Gradio app on loopback. Screenshots of each
state and the page-load / 200-node measurements go to out/test-artifacts/editor/ (look at them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser import CHROMIUM_FLAGS, chromium_path, free_port, record, shot
from playwright.sync_api import expect, sync_playwright

RES = Path(__file__).parent / "resources" / "editor"
FINISHED = ("done", "cached")


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The editor on a free loopback port, with its own workspace, cache and runs folder."""
    from reelgraph.ui.app import build_app
    root = tmp_path_factory.mktemp("editor")
    demo, opts = build_app(root / "workspace", cache=root / "cache", runs_dir=root / "runs")
    port = free_port()
    demo.queue(default_concurrency_limit=None).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **opts)
    yield {"url": f"http://127.0.0.1:{port}/", "editor": demo.editor, "root": root}
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Editor:
    """A page with the editor open, and the moves a user makes."""

    def __init__(self, page, url):
        self.page, self.url = page, url
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self) -> float:
        t0 = time.perf_counter()
        self.page.goto(self.url)
        self.page.wait_for_selector(".rg-node[data-id]", timeout=30_000)
        return time.perf_counter() - t0

    def node(self, node_id: str):
        return self.page.locator(f'.rg-node[data-id="{node_id}"]')

    def node_ids(self) -> set[str]:
        return set(self.page.eval_on_selector_all(".rg-node[data-id]", "els => els.map(e => e.dataset.id)"))

    def statuses(self) -> dict[str, str]:
        return dict(self.page.eval_on_selector_all(
            ".rg-node[data-id]", "els => els.map(e => [e.dataset.id, e.dataset.status])"))

    def handle(self, node_id: str, port: str, kind: str):
        return self.node(node_id).locator(f'[data-port="{port}"][data-kind="{kind}"]').first

    def wire(self, src: str, dst: str) -> None:
        (a_node, a_port), (b_node, b_port) = src.split("."), dst.split(".")
        self.handle(a_node, a_port, "output").drag_to(self.handle(b_node, b_port, "input"))

    def edges(self) -> int:
        return self.page.locator(".svelte-flow__edge").count()

    def add_from_palette(self, type_id: str, x: int = 700, y: int = 420) -> str:
        before = self.node_ids()
        self.page.get_by_test_id("palette-search").fill(type_id)
        item = self.page.locator(f'[data-node-type="{type_id}"]').first
        pane = self.page.locator(".svelte-flow__pane").first
        item.drag_to(pane, target_position={"x": x, "y": y})
        known = json.dumps(sorted(before))
        # wait for a node id that was not there (a count can be met by a graph being replaced)
        self.page.wait_for_function(
            f"[...document.querySelectorAll('.rg-node[data-id]')].some(n => !{known}.includes(n.dataset.id))")
        self.page.get_by_test_id("palette-search").fill("")
        (new,) = self.node_ids() - before
        return new

    def select(self, node_id: str) -> None:
        title = self.node(node_id).locator(".rg-node-title, header").first
        # far out (hundreds of nodes at fit) only the node's compact card is drawn: click that
        (title if title.is_visible() else self.node(node_id).locator(".rg-far")).click()
        expect(self.page.get_by_test_id("inspector")).to_be_visible()

    def toast(self) -> str:
        t = self.page.get_by_test_id("toast").last
        expect(t).to_be_visible(timeout=5_000)
        return t.inner_text()

    def run_status(self) -> str:
        return self.page.get_by_test_id("status").get_attribute("data-run-status") or ""

    def wait_run(self, status: str = "done", timeout: float = 120_000) -> None:
        self.page.wait_for_selector(f'[data-testid="status"][data-run-status="{status}"]', timeout=timeout)

    def save(self, folder: Path) -> dict:
        with self.page.expect_download() as dl:
            self.page.get_by_test_id("download").click()
        path = folder / dl.value.suggested_filename
        dl.value.save_as(path)
        assert path.suffix == ".json"
        return json.loads(path.read_text())

    def wait_checked(self) -> None:
        """Python has answered the last edit (issues and stale marks are in)."""
        self.page.wait_for_timeout(600)


@pytest.fixture
def editor(app, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    ed = Editor(page, app["url"])
    ed.open()
    yield ed
    context.close()
    assert not [e for e in ed.errors if "favicon" not in e], f"console errors: {ed.errors}"


# ---------------------------------------------------------------------------------------------- tests
def test_the_page_opens_on_the_storyboard_workflow_quickly(app, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    ed = Editor(page, app["url"])
    seconds = ed.open()
    record("page_ready_s", round(seconds, 3), "s", "goto → every node of the storyboard workflow drawn (goal < 2 s)")
    assert ed.node_ids() == set(json.loads(
        (Path(__file__).parent.parent / "workflows" / "storyboard_to_clip.json").read_text())["nodes"])
    assert set(ed.statuses().values()) <= {"stale", "cached"}
    ed.page.wait_for_timeout(400)
    shot(page, "01-opened")
    context.close()


def test_drag_a_node_from_the_palette_onto_the_canvas(editor):
    new = editor.add_from_palette("video.interpolate")
    assert new.startswith("interpolate")
    expect(editor.node(new)).to_be_visible()
    shot(editor.page, "02-dropped-from-palette")


def test_wire_two_nodes_and_the_saved_workflow_has_the_wire(editor, tmp_path):
    a = editor.add_from_palette("text.constant", 500, 300)
    b = editor.add_from_palette("text.template", 900, 300)
    edges = editor.edges()
    editor.wire(f"{a}.out", f"{b}.a")
    expect(editor.page.locator(".svelte-flow__edge")).to_have_count(edges + 1)
    shot(editor.page, "03-wired")
    saved = editor.save(tmp_path)
    assert {"from": f"{a}.out", "to": f"{b}.a"} in saved["edges"]
    assert saved["nodes"][b]["type"] == "text.template"


def test_a_wrong_type_wire_is_refused_with_the_reason(editor):
    edges = editor.edges()
    editor.wire("keyframe.image", "voice.text")
    message = editor.toast()
    assert "Text" in message and "Image" in message
    expect(editor.page.locator(".svelte-flow__edge")).to_have_count(edges)
    shot(editor.page, "03-wrong-type-refused")


def test_a_second_wire_into_one_input_is_refused(editor):
    edges = editor.edges()
    editor.wire("fields.duration", "animate.image")  # wrong type and already wired
    assert editor.toast()
    editor.wire("keyframe.image", "animate.image")  # right type, but animate.image already has its wire
    assert "already" in editor.toast()
    expect(editor.page.locator(".svelte-flow__edge")).to_have_count(edges)


def test_editing_a_param_marks_the_node_and_everything_downstream_stale(editor):
    editor.select("music")
    widget = editor.page.locator('[data-testid="inspector"] [data-param="tempo"] input').first
    widget.fill("120")
    widget.press("Tab")
    editor.page.wait_for_function(
        "document.querySelector('.rg-node[data-id=\"music\"]').dataset.status === 'stale'")
    shot(editor.page, "04-param-edited")


def test_the_model_field_offers_the_presets_of_the_node_task(editor):
    editor.select("keyframe")
    field = editor.page.locator('[data-testid="inspector"] [data-param="model"] input').first
    options = field.evaluate("el => [...el.list.options].map(o => o.value)")
    assert options == ["sd-turbo", "sdxl-turbo", "flux-schnell", "flux-dev"]
    assert field.get_attribute("placeholder") == "default for this device"


def test_run_the_storyboard_workflow_and_play_the_result(editor):
    editor.page.get_by_test_id("run").click()
    editor.page.wait_for_selector('[data-testid="status"][data-run-status="running"]', timeout=15_000)
    editor.page.wait_for_timeout(1500)
    shot(editor.page, "05-running")
    editor.wait_run("done")
    statuses = editor.statuses()
    assert set(statuses.values()) <= set(FINISHED), statuses
    expect(editor.node("keyframe").locator("img").first).to_be_visible()
    video = editor.page.locator("#rg-output video")
    expect(video).to_have_count(1, timeout=30_000)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    editor.page.wait_for_function("document.querySelector('#rg-output video').currentTime > 0.2",
                                  timeout=20_000)
    shot(editor.page, "06-done")
    # a preview inside a node opens large, and Escape closes it
    editor.node("keyframe").locator('[data-testid="preview"]:visible').first.click()
    expect(editor.page.get_by_test_id("lightbox")).to_be_visible()
    shot(editor.page, "06b-preview-large")
    editor.page.keyboard.press("Escape")
    expect(editor.page.get_by_test_id("lightbox")).to_have_count(0)
    # after the run, an edit marks what it changes stale; everything upstream stays cached
    editor.select("music")
    widget = editor.page.locator('[data-testid="inspector"] [data-param="tempo"] input').first
    widget.fill("84")
    widget.press("Tab")
    editor.page.wait_for_function(
        "document.querySelector('.rg-node[data-id=\"mix\"]').dataset.status === 'stale'")
    statuses = editor.statuses()
    assert {statuses[n] for n in ("music", "mix", "mux", "save")} == {"stale"}
    assert {statuses[n] for n in ("story", "keyframe", "animate", "concat", "voice")} == {"cached"}
    shot(editor.page, "06c-stale-after-edit")


def test_save_then_open_the_saved_workflow(editor, tmp_path):
    editor.select("music")
    widget = editor.page.locator('[data-testid="inspector"] [data-param="tempo"] input').first
    widget.fill("97")
    widget.press("Tab")
    editor.wait_checked()
    saved = editor.save(tmp_path)
    assert saved["nodes"]["music"]["params"]["tempo"] == 97
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(saved))
    editor.page.reload()
    editor.page.wait_for_selector(".rg-node[data-id]")
    editor.page.get_by_test_id("open-input").set_input_files(str(path))
    editor.page.wait_for_timeout(800)
    editor.select("music")
    assert editor.page.locator('[data-testid="inspector"] [data-param="tempo"] input').first.input_value() == "97"


def test_an_invalid_file_gives_a_message_and_the_canvas_stays(editor, tmp_path):
    before = editor.node_ids()
    bad = tmp_path / "broken.json"
    bad.write_text('{"nodes": {"a": ')
    editor.page.get_by_test_id("open-input").set_input_files(str(bad))
    assert "broken.json" in editor.toast()
    assert editor.node_ids() == before
    shot(editor.page, "07-invalid-file")


def test_restore_the_workflow_from_a_produced_mp4(editor, app, tmp_path):
    from reelgraph import workflows
    ed = app["editor"]
    run = ed.start(json.loads(workflows.path("single_shot").read_text()), "test-restore")
    for _ in ed.states(run):
        pass
    assert run.output_path is not None
    clip = tmp_path / "made_by_reelgraph.mp4"
    clip.write_bytes(run.output_path.read_bytes())
    editor.page.get_by_test_id("open-input").set_input_files(str(clip))
    expected = set(json.loads(workflows.path("single_shot").read_text())["nodes"])
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {len(expected)}")
    assert editor.node_ids() == expected
    shot(editor.page, "08-restored-from-mp4")


def test_a_failing_node_shows_its_error_and_fix_and_the_rest_still_runs(editor):
    editor.page.get_by_test_id("open-input").set_input_files(str(RES / "two_texts.json"))
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 2")
    pic = editor.add_from_palette("io.load_image", 500, 600)
    editor.select(pic)
    field = editor.page.locator('[data-testid="inspector"] [data-param="path"] input[type="text"], '
                                '[data-testid="inspector"] [data-param="path"] input:not([type])').first
    field.fill("no_such_picture.png")
    field.press("Tab")
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.wait_run("failed", timeout=60_000)
    assert editor.node(pic).get_attribute("data-status") == "failed"
    # the status attribute and the error text render in separate updates: wait for the text
    error = editor.node(pic).get_by_test_id("node-error")
    expect(error).to_contain_text("file not found: no_such_picture.png")
    expect(error).to_contain_text("paths are relative to")
    assert editor.statuses()["greet"] == "done"
    shot(editor.page, "09a-node-failed")


def test_a_file_param_uploads_into_the_workspace(editor, app, tmp_path):
    from PIL import Image
    picture = tmp_path / "Harbour Photo.png"
    Image.new("RGB", (64, 36), (30, 90, 160)).save(picture)
    pic = editor.add_from_palette("io.load_image", 500, 600)
    editor.select(pic)
    editor.page.locator('[data-testid="inspector"] [data-param="path"] input[type="file"]').set_input_files(
        str(picture))
    editor.wait_checked()
    saved = editor.save(tmp_path)
    value = saved["nodes"][pic]["params"]["path"]
    assert value.startswith("uploads/") and value.endswith("-harbour_photo.png")
    assert (app["editor"].workspace / value).read_bytes() == picture.read_bytes()
    shot(editor.page, "09b-file-uploaded")


def test_stop_cancels_a_run(editor):
    editor.select("animate")
    widget = editor.page.locator('[data-testid="inspector"] [data-param="amplitude"] input').first
    widget.fill("0.21")
    widget.press("Tab")
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.page.wait_for_function(
        "[...document.querySelectorAll('.rg-node[data-id]')].some(e => e.dataset.status === 'running')",
        timeout=20_000)
    editor.page.get_by_test_id("stop").click()
    editor.wait_run("cancelled", timeout=60_000)
    assert "skipped" in editor.statuses().values()
    shot(editor.page, "09-stopped")


def test_keyboard_delete_copy_paste_undo_redo(editor):
    n = len(editor.node_ids())
    editor.select("music")
    editor.page.keyboard.press("Control+c")
    editor.page.keyboard.press("Control+v")
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {n + 1}")
    editor.page.keyboard.press("Control+z")
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {n}")
    editor.page.keyboard.press("Control+Shift+z")
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {n + 1}")
    editor.select("music")
    editor.page.keyboard.press("Delete")
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {n}")
    assert "music" not in editor.node_ids()
    editor.page.keyboard.press("Control+z")
    expect(editor.node("music")).to_have_count(1)
    # zoomed in, a minimap shows where you are; F fits the whole graph again (the overview needs none)
    for _ in range(10):
        editor.page.locator(".svelte-flow__controls-zoomin").click()
    expect(editor.page.locator(".svelte-flow__minimap")).to_be_visible()
    editor.page.keyboard.press("f")
    expect(editor.node("save")).to_be_in_viewport()
    expect(editor.node("story")).to_be_in_viewport()


def test_two_tabs_run_at_once_and_keep_their_own_state(app, browser):
    pages = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        ed = Editor(ctx.new_page(), app["url"])
        ed.open()
        pages.append((ctx, ed))
    (_, a), (_, b) = pages
    b.page.get_by_test_id("open-input").set_input_files(str(RES / "two_texts.json"))
    b.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 2")
    a.page.get_by_test_id("run").click()
    b.page.get_by_test_id("run").click()
    b.wait_run("done", timeout=60_000)
    a.wait_run("done", timeout=120_000)
    assert a.node_ids() != b.node_ids()
    assert set(b.statuses()) == {"hello", "greet"}
    assert "Hello, world" in b.node("greet").inner_text()
    assert "greet" not in a.statuses()
    for ctx, _ in pages:
        ctx.close()


def test_a_200_node_graph_stays_responsive(app, browser, tmp_path):
    nodes = {f"n{i}": {"type": "text.template" if i else "text.constant",
                       "params": {"template": "{a}+"} if i else {"text": "x"},
                       "position": [(i % 20) * 260, (i // 20) * 180]} for i in range(200)}
    edges = [{"from": f"n{i - 1}.{'text' if i > 1 else 'out'}", "to": f"n{i}.a"} for i in range(1, 200)]
    path = tmp_path / "two_hundred.json"
    path.write_text(json.dumps({"schema": "reelgraph/workflow", "version": 1, "name": "200 nodes",
                                "nodes": nodes, "edges": edges}))
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    ed = Editor(ctx.new_page(), app["url"])
    ed.open()
    t0 = time.perf_counter()
    ed.page.get_by_test_id("open-input").set_input_files(str(path))
    ed.page.wait_for_selector('.rg-node[data-id="n0"]')
    opened = time.perf_counter() - t0
    # Frame times while panning the whole graph, measured in the page.
    pane = ed.page.locator(".svelte-flow__pane").first.bounding_box()
    ed.page.evaluate("""() => { window.__frames = []; let last = performance.now();
        const tick = (t) => { window.__frames.push(t - last); last = t;
                              if (window.__frames.length < 400) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }""")
    x, y = pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2
    ed.page.mouse.move(x, y)
    ed.page.mouse.down()
    for i in range(40):
        ed.page.mouse.move(x - i * 15, y - i * 6)
    ed.page.mouse.up()
    frames = ed.page.evaluate("window.__frames.slice(2)")
    frames.sort()
    p95 = frames[int(len(frames) * 0.95) - 1] if frames else None
    # click a node the user can see after the pan (which one depends on the fit zoom)
    ed.page.wait_for_timeout(400)
    in_view = ed.page.evaluate("""() => {
        const pane = document.querySelector('.svelte-flow__pane').getBoundingClientRect();
        const cx = (pane.left + pane.right) / 2, cy = (pane.top + pane.bottom) / 2;
        return [...document.querySelectorAll('.rg-node[data-id]')].map(el => {
            const r = el.getBoundingClientRect();
            const inside = r.left >= pane.left && r.right <= pane.right && r.top >= pane.top && r.bottom <= pane.bottom;
            return [el.dataset.id, inside, Math.hypot((r.left + r.right) / 2 - cx, (r.top + r.bottom) / 2 - cy)];
        }).filter(([, inside]) => inside).sort((a, b) => a[2] - b[2]).map(([id]) => id); }""")
    assert in_view, "after a pan some of the 200 nodes are on screen"
    target = in_view[0]  # the one nearest the middle: no panel covers it
    t1 = time.perf_counter()
    ed.select(target)
    select_s = time.perf_counter() - t1
    record("graph200_open_s", round(opened, 3), "s", "Open a 200-node workflow → first node drawn")
    record("graph200_pan_frame_p95_ms", round(p95, 1) if p95 else None, "ms",
           "95th percentile frame time while panning")
    record("graph200_select_s", round(select_s, 3), "s", "click a node → inspector shown")
    shot(ed.page, "10-two-hundred-nodes")
    assert len(ed.node_ids()) > 0
    ctx.close()


def test_only_run_folders_are_served(app):
    import urllib.error
    import urllib.request

    from reelgraph import workflows
    ed = app["editor"]
    run = ed.start(json.loads(workflows.path("single_shot").read_text()), "served-files")
    *_, state = ed.states(run)
    ok = urllib.request.urlopen(app["url"] + state["output"]["url"], timeout=10)
    assert ok.status == 200 and len(ok.read()) > 1000
    (ed.workspace / "private.txt").write_text("not for the browser")
    for path in (ed.workspace / "private.txt", app["root"] / "cache" / "index.db", Path("/etc/hostname")):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{app['url']}gradio_api/file={path}", timeout=10)
        assert e.value.code in (403, 404), path


def test_the_headless_api_runs_a_workflow_and_returns_its_files(app):
    from gradio_client import Client
    client = Client(app["url"], verbose=False)
    files = client.predict((RES / "two_texts.json").read_text(), api_name="/run_workflow")
    summary = json.loads(Path([f for f in files if f.endswith("outputs.json")][0]).read_text())
    assert summary["greet"]["text"] == "Hello, world"
    with pytest.raises(Exception, match="line.a"):
        client.predict((RES / "wrong_type.json").read_text(), api_name="/run_workflow")


def test_a_new_page_shows_what_the_cache_already_holds(app, browser):
    from reelgraph import workflows
    ed_backend = app["editor"]
    run = ed_backend.start(json.loads(workflows.path("storyboard_to_clip").read_text()), "warm-the-cache")
    for _ in ed_backend.states(run):
        pass
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ed = Editor(ctx.new_page(), app["url"])
    ed.open()
    ed.page.wait_for_function(
        "document.querySelector('.rg-node[data-id=\"keyframe\"]').dataset.status === 'cached'", timeout=10_000)
    statuses = ed.statuses()
    assert statuses["save"] == "stale", "saving is not cacheable: it always runs"
    assert all(s == "cached" for n, s in statuses.items() if n != "save"), statuses
    ctx.close()


STORY = """# Two shots
## Shot 1
A red kite over green hills.
duration: 1.5
camera: push_in
## Shot 2
The kite lands beside a stone wall.
duration: 1.5
camera: pan_left
transition: crossfade
"""


def test_build_a_storyboard_pipeline_from_an_empty_canvas_run_it_save_it_and_open_it(app, browser, tmp_path):
    """The issue's "done when": drag, wire, edit, run, watch, play, save, open again."""
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"schema": "reelgraph/workflow", "version": 1, "name": "My film",
                                 "nodes": {}, "edges": []}))
    ctx = browser.new_context(viewport={"width": 2600, "height": 1200}, accept_downloads=True)
    ed = Editor(ctx.new_page(), app["url"])
    ed.open()
    ed.page.get_by_test_id("open-input").set_input_files(str(empty))
    ed.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 0")
    ed.page.wait_for_timeout(800)  # the view settles (fit-view animates)
    ids = {}
    for i, type_id in enumerate(["story.parse_storyboard", "story.expand_prompt", "image.keyframe",
                                 "video.image_to_video", "assemble.concat", "io.save_video"]):
        # wide gaps: a node must never lie over the next one's ports, whatever the zoom when it lands
        ids[type_id.split(".")[1]] = ed.add_from_palette(type_id, 380 + (i % 3) * 620, 60 + (i // 3) * 520)
    if ed.page.locator('[data-testid="issues"] .rg-issues-head[aria-expanded="true"]').count():
        ed.page.locator('[data-testid="issues"] .rg-issues-head').click()  # the list would cover nodes
    ed.page.wait_for_timeout(400)
    shot(ed.page, "11a-built-nodes")
    for src, dst in [("parse_storyboard.shots", "expand_prompt.shot"), ("expand_prompt.prompt", "keyframe.prompt"),
                     ("keyframe.image", "image_to_video.image"), ("image_to_video.video", "concat.videos"),
                     ("concat.video", "save_video.video")]:
        (a, pa), (b, pb) = src.split("."), dst.split(".")
        ed.wire(f"{ids[a]}.{pa}", f"{ids[b]}.{pb}")
    expect(ed.page.locator(".svelte-flow__edge")).to_have_count(5)
    ed.page.get_by_test_id("arrange").click()  # left to right in the order it runs
    ed.select(ids["parse_storyboard"])
    ed.page.locator('[data-testid="inspector"] [data-param="script"] textarea').fill(STORY)
    ed.select(ids["keyframe"])
    resolution = ed.page.locator('[data-testid="inspector"] [data-param="resolution"] input').first
    resolution.fill("240")
    resolution.press("Tab")
    ed.wait_checked()
    expect(ed.page.get_by_test_id("issues")).to_have_attribute("data-count", "0")
    shot(ed.page, "11b-built-and-wired")
    ed.page.get_by_test_id("run").click()
    ed.wait_run("done", timeout=120_000)
    assert set(ed.statuses().values()) == {"done"}
    ed.page.locator("#rg-output video").evaluate("v => { v.muted = true; return v.play(); }")
    ed.page.wait_for_function("document.querySelector('#rg-output video').currentTime > 0.2", timeout=20_000)
    shot(ed.page, "11c-built-run-done")
    saved = ed.save(tmp_path)
    assert saved["name"] == "My film" and len(saved["nodes"]) == 6 and len(saved["edges"]) == 5
    path = tmp_path / "my_film.json"
    path.write_text(json.dumps(saved))
    ed.page.reload()
    ed.page.wait_for_selector(".rg-node[data-id]")
    ed.page.get_by_test_id("open-input").set_input_files(str(path))
    ed.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 6")
    assert ed.node_ids() == set(ids.values())
    expect(ed.page.locator(".svelte-flow__edge")).to_have_count(5)
    ed.page.wait_for_function(
        "[...document.querySelectorAll('.rg-node[data-id]')].every(e => e.dataset.status === 'cached' "
        "|| e.dataset.id.startsWith('save'))")
    ctx.close()


# ------------------------------------------------------------------ the editor never shows a false state
def set_param(editor: Editor, node: str, param: str, value: str) -> None:
    editor.select(node)
    widget = editor.page.locator(
        f'[data-testid="inspector"] [data-param="{param}"] :is(input:not([type="file"]), textarea)').first
    widget.fill(value)
    widget.press("Tab")


def open_resource(editor: Editor, name: str) -> set[str]:
    nodes = set(json.loads((RES / name).read_text())["nodes"])
    editor.page.get_by_test_id("open-input").set_input_files(str(RES / name))
    editor.page.wait_for_function(
        f"[...document.querySelectorAll('.rg-node[data-id]')].map(e => e.dataset.id).sort().join() === "
        f"{json.dumps(','.join(sorted(nodes)))}")
    editor.wait_checked()
    return nodes


def test_a_node_edited_during_a_run_ends_stale_not_done_and_its_old_video_is_not_shown(editor):
    set_param(editor, "animate", "amplitude", "0.29")  # new work: the run takes a few seconds
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.page.wait_for_selector('[data-testid="status"][data-run-status="running"]', timeout=15_000)
    set_param(editor, "music", "tempo", "131")
    editor.wait_run("done")
    statuses = editor.statuses()
    assert {statuses[n] for n in ("music", "mix", "mux", "save")} == {"stale"}, statuses
    assert statuses["animate"] in FINISHED and statuses["keyframe"] in FINISHED
    expect(editor.node("music").locator(".rg-node-msg")).to_contain_text("changed during the run")
    expect(editor.page.get_by_test_id("status")).to_contain_text("changed during the run")
    # the clip was made with the old tempo: the player does not offer it as this graph's
    expect(editor.page.locator("#rg-output video")).to_have_count(0)
    shot(editor.page, "12-edited-during-run")


def test_run_pressed_during_a_run_is_queued_and_runs_when_it_ends(editor):
    set_param(editor, "animate", "amplitude", "0.31")
    editor.wait_checked()
    run = editor.page.get_by_test_id("run")
    run.click()
    editor.page.wait_for_selector('[data-testid="status"][data-run-status="running"]', timeout=15_000)
    first = editor.page.get_by_test_id("status").get_attribute("data-run-id")
    set_param(editor, "music", "tempo", "133")
    run.click()
    assert "queued" in editor.toast().lower()
    expect(run).to_have_attribute("data-queued", "true")
    shot(editor.page, "13-run-queued")
    # the queued run starts when the first ends, and it has the edit: nothing is left stale
    expect(run).not_to_have_attribute("data-queued", "true", timeout=120_000)
    editor.page.wait_for_function(
        f"(s => s.dataset.runId && s.dataset.runId !== '{first}' && s.dataset.runStatus === 'done')"
        "(document.querySelector('[data-testid=status]'))", timeout=120_000)
    statuses = editor.statuses()
    assert set(statuses.values()) <= set(FINISHED), statuses
    assert statuses["music"] == "done"


def test_stop_drops_the_queued_run(editor):
    set_param(editor, "animate", "amplitude", "0.33")
    editor.wait_checked()
    run = editor.page.get_by_test_id("run")
    run.click()
    editor.page.wait_for_selector('[data-testid="status"][data-run-status="running"]', timeout=15_000)
    run.click()
    expect(run).to_have_attribute("data-queued", "true")
    editor.page.get_by_test_id("stop").click()
    expect(run).not_to_have_attribute("data-queued", "true")
    editor.wait_run("cancelled", timeout=60_000)
    editor.page.wait_for_timeout(1500)  # a queued run would have started by now
    assert editor.run_status() == "cancelled"


def test_a_deleted_node_leaks_nothing_into_a_new_one_nor_into_the_counts(editor):
    open_resource(editor, "three_keyframes.json")
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.node("keyframe").locator('[data-testid="preview"] img').first).to_be_visible()
    editor.select("keyframe")
    editor.page.keyboard.press("Delete")
    fresh = editor.add_from_palette("image.keyframe", 900, 300)
    editor.wait_checked()
    assert editor.node(fresh).locator('[data-testid="preview"]').count() == 0
    assert editor.statuses()[fresh] not in FINISHED
    # and a smaller workflow opened after a bigger run counts only its own nodes
    open_resource(editor, "two_texts.json")
    legend = editor.page.locator(".rg-sb-legend").inner_text()
    assert "3" not in legend and set(editor.statuses()) == {"hello", "greet"}, legend
    shot(editor.page, "14-no-leaks")


def test_a_mapped_node_says_how_many_elements_it_rerendered(editor):
    open_resource(editor, "three_keyframes.json")
    set_param(editor, "keyframe", "seed", "7")
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    editor.select("story")
    script = editor.page.locator('[data-testid="inspector"] [data-param="script"] textarea')
    script.fill(script.input_value().replace("stone wall", "wooden fence"))
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.node("keyframe").locator(".rg-node-msg")).to_contain_text("re-rendered 1 of 3, 2 from cache")
    expect(editor.node("keyframe").get_by_test_id("node-badge")).to_contain_text("re-rendered 1 of 3")
    shot(editor.page, "15-rerendered-one-of-three")


def test_the_player_is_cleared_with_the_graph_that_made_its_video(editor):
    open_resource(editor, "three_keyframes.json")  # no video
    editor.page.get_by_test_id("examples").click()
    editor.page.locator('[data-example-id="single_shot"]').click()
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length > 2")
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.page.locator("#rg-output video")).to_have_count(1, timeout=30_000)
    editor.page.get_by_test_id("new").click()
    expect(editor.page.locator("#rg-output video")).to_have_count(0, timeout=10_000)
    assert "mp4" not in editor.page.locator("#rg-files").inner_text()
    shot(editor.page, "16-player-cleared")


def test_a_failed_run_clears_the_last_video(editor, app):
    from PIL import Image
    picture = app["editor"].workspace / "uploads" / "clip-picture.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (96, 54), (200, 120, 40)).save(picture)
    open_resource(editor, "picture_clip.json")
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.page.locator("#rg-output video")).to_have_count(1, timeout=30_000)
    picture.unlink()  # the same graph, run again, now fails: the old clip is not its result
    editor.page.get_by_test_id("run").click()
    editor.wait_run("failed", timeout=60_000)
    expect(editor.page.locator("#rg-output video")).to_have_count(0, timeout=10_000)
    shot(editor.page, "16b-failed-run-no-video")


# ------------------------------------------------------------------------------------- never lose work
def test_a_reload_brings_back_the_unsaved_graph(editor):
    set_param(editor, "music", "tempo", "77")
    extra = editor.add_from_palette("text.constant", 600, 700)
    editor.page.wait_for_timeout(1500)  # the autosave follows the last change by 0.8 s
    editor.page.reload()
    editor.page.wait_for_function(f"!!document.querySelector('.rg-node[data-id=\"{extra}\"]')", timeout=15_000)
    assert "restored" in editor.toast().lower()
    editor.select("music")
    assert editor.page.locator('[data-testid="inspector"] [data-param="tempo"] input').first.input_value() == "77"
    shot(editor.page, "17-restored-after-reload")


def test_leaving_with_unsaved_changes_asks_first(app, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    keeper = ctx.new_page()  # waits while the closing page's dialog comes
    asked = []
    for change in (False, True):
        ed = Editor(ctx.new_page(), app["url"])
        ed.open()
        ed.page.on("dialog", lambda d: (asked.append(d.type), d.dismiss()))
        if change:
            ed.add_from_palette("text.constant")
        ed.page.mouse.click(5, 5)  # a page must have been interacted with to ask
        ed.page.close(run_before_unload=True)
        keeper.wait_for_timeout(500)
        assert asked == (["beforeunload"] if change else []), "asks only when something is unsaved"
    ctx.close()


def test_new_gives_an_empty_untitled_canvas_at_full_size(editor, tmp_path):
    for _ in range(6):
        editor.page.locator(".svelte-flow__controls-zoomout").click()
    editor.page.get_by_test_id("new").click()
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 0")
    expect(editor.page.locator(".rg-wf-name")).to_have_count(0)
    node = editor.add_from_palette("text.constant", 500, 300)
    width = editor.node(node).bounding_box()["width"]
    assert width >= 180, f"a new node after New lands readable, not at the old zoom ({width:.0f} px)"
    saved = editor.save(tmp_path)
    assert saved["name"] == "" and "storyboard" not in json.dumps(saved).lower()
    shot(editor.page, "18-new-canvas")


def test_deleting_every_node_forgets_the_workflow_name_and_zoom(editor, tmp_path):
    for _ in range(6):
        editor.page.locator(".svelte-flow__controls-zoomout").click()
    editor.page.keyboard.press("Control+a")
    editor.page.keyboard.press("Delete")
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 0")
    node = editor.add_from_palette("text.constant", 500, 300)
    assert editor.node(node).bounding_box()["width"] >= 180
    with editor.page.expect_download() as dl:
        editor.page.get_by_test_id("download").click()
    assert "storyboard" not in dl.value.suggested_filename.lower()


def test_ctrl_s_saves_into_the_workspace_asking_for_a_name_once(editor, app):
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 50, "y": 50})
    editor.page.keyboard.press("Control+s")  # not the browser's "Save page as"
    name = editor.page.get_by_test_id("save-as-name")
    expect(name).to_be_focused()
    assert name.input_value() == "Storyboard to clip"
    name.fill("Lighthouse cut")
    shot(editor.page, "24-save-as")
    name.press("Enter")
    expect(editor.page.get_by_test_id("save-as-dialog")).to_have_count(0)
    saved = app["editor"].workspace / "lighthouse_cut.json"
    assert json.loads(saved.read_text())["name"] == "Lighthouse cut"
    expect(editor.page.get_by_test_id("save")).to_have_attribute("data-file", "lighthouse_cut.json")
    # the next Ctrl+S writes the same file without asking
    set_param(editor, "music", "tempo", "101")
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 50, "y": 50})
    editor.page.keyboard.press("Control+s")
    assert "lighthouse_cut.json" in editor.toast()
    expect(editor.page.get_by_test_id("save-as-dialog")).to_have_count(0)
    assert json.loads(saved.read_text())["nodes"]["music"]["params"]["tempo"] == 101


def test_save_as_never_replaces_another_workflow_without_asking(editor, app):
    ws = app["editor"].workspace
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "taken.json").write_text((RES / "two_texts.json").read_text())
    editor.page.get_by_test_id("save-as").click()
    editor.page.get_by_test_id("save-as-name").fill("Taken")
    editor.page.get_by_test_id("save-as-ok").click()
    expect(editor.page.get_by_test_id("save-as-exists")).to_contain_text("taken.json")
    assert json.loads((ws / "taken.json").read_text())["name"] == "Two texts"
    shot(editor.page, "25-save-as-name-taken")
    editor.page.get_by_test_id("save-as-replace").click()
    expect(editor.page.get_by_test_id("save-as-dialog")).to_have_count(0)
    assert json.loads((ws / "taken.json").read_text())["name"] == "Taken"


def test_the_workflows_menu_lists_the_workspace_recent_first_and_opens_one(editor, app):
    ws = app["editor"].workspace
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "older.json").write_text((RES / "two_texts.json").read_text())
    import os
    os.utime(ws / "older.json", (1, 1))
    (ws / "newer.json").write_text((RES / "three_keyframes.json").read_text())
    editor.page.get_by_test_id("workflows").click()
    menu = editor.page.get_by_test_id("workflows-menu")
    expect(menu.locator("[data-file]").first).to_be_visible()
    files = menu.locator("[data-file]").evaluate_all("els => els.map(e => e.dataset.file)")
    assert files.index("newer.json") < files.index("older.json")
    shot(editor.page, "26-workflows-menu")
    menu.locator('[data-file="older.json"]').click()
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 2")
    expect(editor.page.get_by_test_id("save")).to_have_attribute("data-file", "older.json")


def test_a_two_node_loop_is_refused_naming_the_loop(editor):
    a = editor.add_from_palette("text.template", 500, 650)
    b = editor.add_from_palette("text.template", 900, 650)
    editor.wire(f"{a}.text", f"{b}.a")
    editor.wire(f"{b}.text", f"{a}.a")
    message = editor.toast()
    assert "loop" in message and "feed itself" not in message, message


# ------------------------------------------------------------------------------ building like in ComfyUI
def test_the_issues_list_stays_closed_over_new_nodes_until_a_run_is_refused(editor):
    new = editor.add_from_palette("image.keyframe", 500, 200)  # its prompt is unwired: an issue
    editor.wait_checked()
    expect(editor.page.get_by_test_id("issues")).not_to_have_attribute("data-count", "0")
    expect(editor.page.locator(".rg-issues-list")).to_have_count(0)
    expect(editor.node(new)).to_be_visible()
    editor.page.get_by_test_id("run").click()  # refused: now the list is what the user needs
    expect(editor.page.locator(".rg-issues-list")).to_be_visible()
    expect(editor.page.locator(".rg-issues-list")).to_contain_text("prompt")
    shot(editor.page, "19-issues-open-after-refused-run")


def test_the_minimap_shows_only_while_part_of_the_graph_is_out_of_view(editor):
    editor.page.keyboard.press("f")
    editor.page.wait_for_timeout(400)
    expect(editor.page.locator(".svelte-flow__minimap")).to_have_count(0)  # it would only cover nodes
    for _ in range(6):
        editor.page.locator(".svelte-flow__controls-zoomin").click()
    expect(editor.page.locator(".svelte-flow__minimap")).to_be_visible()
    editor.page.get_by_test_id("minimap-toggle").click()  # hidden on request
    expect(editor.page.locator(".svelte-flow__minimap")).to_have_count(0)
    editor.page.keyboard.press("m")
    expect(editor.page.locator(".svelte-flow__minimap")).to_be_visible()


def test_a_wire_dragged_across_the_minimap_does_not_pan_the_view(editor):
    a = editor.add_from_palette("text.constant", 300, 300)
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 40, "y": 40})
    editor.page.keyboard.press("m")  # pinned on
    minimap = editor.page.locator(".svelte-flow__minimap")
    expect(minimap).to_be_visible()
    before = editor.page.locator(".svelte-flow__viewport").get_attribute("style")
    src = editor.handle(a, "out", "output").bounding_box()
    box = minimap.bounding_box()
    editor.page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
    editor.page.mouse.down()
    for i in range(1, 11):
        editor.page.mouse.move(box["x"] + box["width"] * i / 12, box["y"] + box["height"] / 2)
    editor.page.mouse.up()
    editor.page.keyboard.press("Escape")
    assert editor.page.locator(".svelte-flow__viewport").get_attribute("style") == before


def test_double_click_on_the_canvas_finds_and_adds_a_node_there(editor):
    before = editor.node_ids()
    editor.page.locator(".svelte-flow__pane").first.dblclick(position={"x": 600, "y": 650})
    search = editor.page.get_by_test_id("node-search-input")
    expect(search).to_be_focused()
    search.fill("interpolate")
    shot(editor.page, "20-node-search")
    search.press("Enter")
    (new,) = editor.node_ids() - before
    assert new.startswith("interpolate")
    expect(editor.page.get_by_test_id("node-search")).to_have_count(0)
    editor.page.keyboard.press("Control+z")  # one step
    editor.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {len(before)}")


def test_space_opens_the_node_search_and_escape_closes_it(editor):
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 500, "y": 600})
    editor.page.keyboard.press(" ")
    expect(editor.page.get_by_test_id("node-search-input")).to_be_focused()
    editor.page.keyboard.press("Escape")
    expect(editor.page.get_by_test_id("node-search")).to_have_count(0)


def test_a_wire_dropped_on_empty_canvas_offers_only_nodes_that_take_it_and_wires_the_pick(editor, tmp_path):
    open_resource(editor, "two_texts.json")
    edges = editor.edges()
    before = editor.node_ids()
    out = editor.handle("greet", "text", "output").bounding_box()
    pane = editor.page.locator(".svelte-flow__pane").first.bounding_box()
    editor.page.mouse.move(out["x"] + out["width"] / 2, out["y"] + out["height"] / 2)
    editor.page.mouse.down()
    drop = (pane["x"] + pane["width"] * 0.4, pane["y"] + pane["height"] - 140)
    for i in range(1, 11):
        editor.page.mouse.move(out["x"] + (drop[0] - out["x"]) * i / 10, out["y"] + (drop[1] - out["y"]) * i / 10)
    editor.page.mouse.up()
    expect(editor.page.get_by_test_id("node-search")).to_be_visible()
    offered = editor.page.eval_on_selector_all("[data-search-type]", "els => els.map(e => e.dataset.searchType)")
    assert "text.template" in offered and "audio.speech" in offered
    assert "assemble.concat" not in offered and "io.load_image" not in offered, offered
    shot(editor.page, "21-search-from-a-wire")
    editor.page.get_by_test_id("node-search-input").fill("speech")
    editor.page.locator('[data-search-type="audio.speech"]').click()
    (new,) = editor.node_ids() - before
    expect(editor.page.locator(".svelte-flow__edge")).to_have_count(edges + 1)
    assert {"from": "greet.text", "to": f"{new}.text"} in editor.save(tmp_path)["edges"]


def test_right_click_run_to_here_runs_only_what_the_node_needs(editor):
    open_resource(editor, "three_keyframes.json")
    set_param(editor, "keyframe", "seed", "23")
    editor.wait_checked()
    editor.node("prompt").locator(".rg-node-title, header").first.click(button="right")
    menu = editor.page.get_by_test_id("context-menu")
    expect(menu).to_be_visible()
    shot(editor.page, "22-context-menu")
    menu.locator('[data-action="run_to"]').click()
    editor.wait_run("done", timeout=60_000)
    statuses = editor.statuses()
    assert statuses["prompt"] in FINISHED and statuses["story"] in FINISHED
    assert statuses["keyframe"] == "stale", statuses


def test_duplicate_copies_a_node_with_its_inputs(editor, tmp_path):
    open_resource(editor, "two_texts.json")
    editor.select("greet")
    editor.page.keyboard.press("Control+d")
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 3")
    (copy,) = editor.node_ids() - {"hello", "greet"}
    assert {"from": "hello.out", "to": f"{copy}.a"} in editor.save(tmp_path)["edges"]


def test_question_mark_shows_the_keyboard_shortcuts(editor):
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 500, "y": 600})
    editor.page.keyboard.press("?")
    expect(editor.page.get_by_test_id("shortcuts")).to_contain_text("Run to here")
    shot(editor.page, "23-shortcuts")
    editor.page.keyboard.press("Escape")
    expect(editor.page.get_by_test_id("shortcuts")).to_have_count(0)


# ------------------------------------------------------------------------------ queue, history, compare
def set_runs(editor: Editor, count: int, seeds: str) -> None:
    """Run ×N and its seed policy, from the menu beside Run."""
    editor.page.get_by_test_id("run-options").click()
    editor.page.get_by_test_id("run-count").fill(str(count))
    editor.page.get_by_test_id("run-count").press("Tab")
    editor.page.get_by_test_id("seed-policy").select_option(seeds)
    editor.page.get_by_test_id("run-options").click()  # closed again
    expect(editor.page.get_by_test_id("run-options")).to_contain_text(f"×{count}")


def past_runs(app, since: set[str]) -> list[dict]:
    return [r for r in app["editor"].history() if r["run"] not in since]


def keyframe_seed(app, run: str) -> int:
    wf = json.loads((app["editor"].runs_dir / run / "workflow.json").read_text())
    return wf["nodes"]["keyframe"]["params"]["seed"]


def test_run_times_three_with_seed_plus_one_makes_three_takes_and_leaves_the_canvas_as_it_was(editor, app):
    open_resource(editor, "three_keyframes.json")
    set_param(editor, "keyframe", "seed", "40")
    editor.wait_checked()
    before = {r["run"] for r in app["editor"].history()}
    set_runs(editor, 3, "increment")
    editor.page.get_by_test_id("run").click()
    panel = editor.page.get_by_test_id("queue-panel")
    expect(panel).to_be_visible()
    labels = panel.get_by_test_id("queue-item").evaluate_all("els => els.map(e => e.dataset.label)")
    assert labels[-1] == "seed +2", labels
    shot(editor.page, "27-run-times-three-queued")
    expect(panel).to_have_count(0, timeout=120_000)
    for _ in range(240):  # the panel empties when the last run starts: wait for all three to finish
        runs = past_runs(app, before)
        if len(runs) == 3 and all(r["status"] == "done" for r in runs):
            break
        editor.page.wait_for_timeout(250)
    editor.wait_run("done", timeout=60_000)
    assert sorted(keyframe_seed(app, r["run"]) for r in runs) == [40, 41, 42]
    # the canvas still has the seed it had: the takes' seeds live in their runs' workflows
    editor.select("keyframe")
    assert editor.page.locator('[data-testid="inspector"] [data-param="seed"] input').first.input_value() == "40"
    assert editor.statuses()["keyframe"] == "stale", "the last take (seed 42) is not what the canvas shows"


def test_the_queue_can_be_reordered_and_a_run_taken_out(editor):
    set_param(editor, "animate", "amplitude", "0.37")  # the first run takes a few seconds
    editor.wait_checked()
    set_runs(editor, 4, "increment")
    editor.page.get_by_test_id("run").click()
    items = editor.page.get_by_test_id("queue-item")
    expect(items).to_have_count(3)
    label = lambda: items.evaluate_all("els => els.map(e => e.dataset.label)")  # noqa: E731
    assert label() == ["seed +1", "seed +2", "seed +3"]
    items.nth(2).locator('[data-action="up"]').click()
    assert label() == ["seed +1", "seed +3", "seed +2"]
    items.nth(0).locator('[data-action="cancel"]').click()
    assert label() == ["seed +3", "seed +2"]
    expect(editor.page.get_by_test_id("run")).to_contain_text("2")
    shot(editor.page, "28-queue-reordered")
    editor.page.get_by_test_id("stop").click()  # Stop ends the run and drops what waits
    expect(editor.page.get_by_test_id("queue-panel")).to_have_count(0)
    editor.wait_run("cancelled", timeout=60_000)


def test_the_history_compares_two_takes_side_by_side_and_opens_one_back(editor, app):
    editor.page.get_by_test_id("examples").click()
    editor.page.locator('[data-example-id="single_shot"]').click()
    editor.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 4")
    set_runs(editor, 2, "increment")
    before = {r["run"] for r in app["editor"].history()}
    editor.page.get_by_test_id("run").click()
    expect(editor.page.get_by_test_id("queue-panel")).to_have_count(0, timeout=120_000)
    for _ in range(240):  # the panel empties when the second run starts: wait for both to finish
        if sum(r["status"] == "done" for r in past_runs(app, before)) == 2:
            break
        editor.page.wait_for_timeout(250)
    editor.wait_run("done", timeout=120_000)
    editor.page.get_by_test_id("history").click()
    runs = editor.page.get_by_test_id("history-run")
    expect(runs.first.locator("video")).to_have_count(1)
    first, second = runs.nth(0), runs.nth(1)
    assert keyframe_seed(app, first.get_attribute("data-run")) == 12
    assert keyframe_seed(app, second.get_attribute("data-run")) == 11
    first.get_by_test_id("history-pick").check()
    second.get_by_test_id("history-pick").check()
    shot(editor.page, "29-history")
    editor.page.get_by_test_id("history-compare").click()
    compare = editor.page.get_by_test_id("compare")
    expect(compare.locator("video")).to_have_count(2)
    compare.locator('video[data-side="A"]').evaluate("v => v.play()")
    editor.page.wait_for_function(
        "document.querySelector('[data-testid=compare] video[data-side=B]').currentTime > 0.3", timeout=20_000)
    shot(editor.page, "30-compare-a-b")
    editor.page.keyboard.press("Escape")
    expect(compare).to_have_count(0)
    # open the seed-12 take back onto the canvas
    first.get_by_test_id("history-open").click()
    editor.page.wait_for_timeout(800)
    editor.page.get_by_test_id("history").click()  # close the panel: the inspector is under it
    editor.select("keyframe")
    assert editor.page.locator('[data-testid="inspector"] [data-param="seed"] input').first.input_value() == "12"


# ---------------------------------------------------------------------------------- the storyboard view
def test_the_storyboard_view_edits_a_shot_in_place_and_re_renders_one_shot_as_a_new_take(editor, app, tmp_path):
    open_resource(editor, "kite_three_shots.json")
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    editor.page.get_by_test_id("view-storyboard").click()
    shots = editor.page.get_by_test_id("shot")
    expect(shots).to_have_count(3)
    expect(shots.nth(0).get_by_test_id("shot-frame")).to_be_visible()
    assert shots.nth(0).locator('[data-field="camera"]').input_value() == "push_in"
    shot(editor.page, "31-storyboard-view")
    # edit shot 2's camera in the table: the script changes on that line only
    shots.nth(1).locator('[data-field="camera"]').select_option("tilt_up")
    editor.wait_checked()
    script = editor.save(tmp_path)["nodes"]["story"]["params"]["script"]
    assert ("## Shot 2\nThe kite dips toward a stone wall.\nduration: 1\ntransition: crossfade\n"
            "camera: tilt_up") in script
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    # re-render shot 3: a new take with a new seed; only that shot is drawn again
    old_seed = int(shots.nth(2).get_attribute("data-seed"))
    shots.nth(2).get_by_test_id("rerender").click()
    editor.page.wait_for_function(
        f"document.querySelectorAll('[data-testid=shot]')[2].dataset.seed !== '{old_seed}'", timeout=10_000)
    editor.wait_run("done", timeout=60_000)
    expect(editor.node("keyframe").locator(".rg-node-msg")).to_contain_text("re-rendered 1 of 3")
    takes = shots.nth(2).get_by_test_id("take")
    expect(takes).to_have_count(2)
    expect(takes.nth(1)).to_have_attribute("aria-pressed", "true")
    shot(editor.page, "32-storyboard-new-take")
    new_seed = int(shots.nth(2).get_attribute("data-seed"))
    runs = app["editor"].history()
    kf = json.loads((app["editor"].runs_dir / runs[0]["run"] / "workflow.json").read_text())
    assert f"seed: {new_seed}" in kf["nodes"]["story"]["params"]["script"]
    # the first take is kept: picking it again puts its seed back (its frames come from the cache)
    takes.nth(0).click()
    editor.page.wait_for_function(
        f"document.querySelectorAll('[data-testid=shot]')[2].dataset.seed === '{old_seed}'", timeout=10_000)
    editor.wait_run("done", timeout=60_000)
    expect(takes.nth(0)).to_have_attribute("aria-pressed", "true")
    saved = editor.save(tmp_path)
    assert saved["meta"]["takes"]["story"]["3"] == [old_seed, new_seed]


def test_nodes_copied_in_one_tab_paste_into_another(app, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    a, b = (Editor(ctx.new_page(), app["url"]) for _ in range(2))
    for ed in (a, b):
        ed.open()
    open_resource(a, "two_texts.json")
    a.page.locator(".svelte-flow__pane").first.click(position={"x": 60, "y": 60})
    a.page.keyboard.press("Control+a")
    a.page.keyboard.press("Control+c")
    nodes, edges = len(b.node_ids()), b.edges()
    b.page.locator(".svelte-flow__pane").first.click(position={"x": 60, "y": 60})
    b.page.keyboard.press("Control+v")
    b.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length === {nodes + 2}")
    expect(b.page.locator(".svelte-flow__edge")).to_have_count(edges + 1)  # the wire between them came too
    ctx.close()


def test_bypass_a_node_and_the_run_passes_its_input_on(editor):
    open_resource(editor, "two_texts.json")
    shout = editor.add_from_palette("text.template", 900, 500)
    set_param(editor, shout, "template", "{a}!")
    editor.wire("greet.text", f"{shout}.a")
    editor.node("greet").locator(".rg-node-title, header").first.click(button="right")
    editor.page.get_by_test_id("context-menu").locator('[data-action="bypass"]').click()
    expect(editor.node("greet")).to_have_attribute("data-bypassed", "true")
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.node(shout)).to_contain_text("Hello!")
    shot(editor.page, "33-bypassed")
    editor.select("greet")
    editor.page.keyboard.press("Control+b")  # on again
    expect(editor.node("greet")).not_to_have_attribute("data-bypassed", "true")
    editor.wait_checked()
    assert editor.statuses()[shout] == "stale"


def test_short_params_are_edited_on_the_node_itself(editor, tmp_path):
    open_resource(editor, "two_texts.json")
    kf = editor.add_from_palette("image.keyframe", 700, 450)
    node = editor.node(kf)
    node.locator('[data-inline-param="resolution"]').click()
    field = node.locator('input[data-inline-param="resolution"]')
    expect(field).to_be_focused()
    field.fill("288")
    field.press("Enter")
    expect(node.locator('[data-inline-param="resolution"]')).to_have_text("288")
    node.locator('[data-inline-param="aspect"]').click()
    node.locator('select[data-inline-param="aspect"]').select_option("1:1")
    shot(editor.page, "34-param-on-the-node")
    params = editor.save(tmp_path)["nodes"][kf]["params"]
    assert params["resolution"] == 288 and params["aspect"] == "1:1"


def test_a_group_frames_nodes_that_move_and_collapse_together_and_a_note_is_kept(editor, tmp_path):
    open_resource(editor, "two_texts.json")
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 60, "y": 60})
    editor.page.keyboard.press("Control+a")
    editor.page.keyboard.press("Control+g")
    group = editor.page.get_by_test_id("group")
    expect(group).to_have_count(1)
    before = {n: editor.node(n).bounding_box() for n in ("hello", "greet")}
    bar = group.get_by_test_id("group-bar").bounding_box()
    editor.page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    editor.page.mouse.down()
    for i in range(1, 9):
        editor.page.mouse.move(bar["x"] + bar["width"] / 2 + 10 * i, bar["y"] + bar["height"] / 2 + 8 * i)
    editor.page.mouse.up()
    after = {n: editor.node(n).bounding_box() for n in ("hello", "greet")}
    moved = {n: (round(after[n]["x"] - before[n]["x"]), round(after[n]["y"] - before[n]["y"])) for n in before}
    assert moved["hello"] == moved["greet"] and moved["hello"][0] > 40, moved
    shot(editor.page, "35-group")
    group.get_by_test_id("group-collapse").click()
    expect(editor.node("hello")).to_be_hidden()
    expect(group).to_contain_text("2 nodes hidden")
    # a note, from the canvas's context menu
    editor.page.locator(".svelte-flow__pane").first.click(position={"x": 120, "y": 500}, button="right")
    editor.page.get_by_test_id("context-menu").locator('[data-action="note"]').click()
    note = editor.page.get_by_test_id("note").locator("textarea")
    note.fill("Shot 2 needs a warmer light")
    note.press("Tab")
    shot(editor.page, "36-group-collapsed-and-note")
    saved = editor.save(tmp_path)
    (g,) = saved["meta"]["canvas"]["groups"]
    assert g["collapsed"] is True
    assert saved["meta"]["canvas"]["notes"][0]["text"] == "Shot 2 needs a warmer light"
    assert set(saved["nodes"]) == {"hello", "greet"}  # groups and notes are not nodes: they never run
    group.get_by_test_id("group-collapse").click()
    expect(editor.node("hello")).to_be_visible()


def test_a_reroute_point_is_a_dot_on_its_wire_and_passes_the_value_on(editor):
    open_resource(editor, "two_texts.json")
    dot = editor.add_from_palette("wire.reroute", 650, 450)
    expect(editor.node(dot)).to_have_attribute("data-compact", "true")
    assert editor.node(dot).bounding_box()["width"] < 60
    end = editor.add_from_palette("text.template", 900, 500)
    editor.wire("greet.text", f"{dot}.value")
    editor.wire(f"{dot}.out", f"{end}.a")
    editor.wait_checked()
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=60_000)
    expect(editor.node(end)).to_contain_text("Hello, world")
    shot(editor.page, "37-reroute")


def test_zoomed_far_out_nodes_keep_their_size_and_wires_and_come_back_whole(editor):
    box = editor.node("keyframe").bounding_box()
    for _ in range(12):
        if editor.page.locator(".rg-canvas.rg-zoom-pin").count():
            break
        editor.page.locator(".svelte-flow__controls-zoomout").click()
    expect(editor.page.locator(".rg-canvas.rg-zoom-pin")).to_have_count(1)
    expect(editor.page.locator(".rg-node.rg-pinned").first).to_be_attached()
    assert editor.handle("keyframe", "image", "output").is_hidden()  # not laid out at all this far out
    editor.page.keyboard.press("f")
    editor.page.wait_for_timeout(600)
    assert editor.page.locator(".rg-node.rg-pinned").count() == 0
    expect(editor.handle("keyframe", "image", "output")).to_be_visible()
    again = editor.node("keyframe").bounding_box()
    assert abs(again["width"] - box["width"]) < 2 and abs(again["height"] - box["height"]) < 2


def test_before_run_each_node_that_will_run_shows_its_estimate_and_the_status_bar_the_total(editor):
    set_param(editor, "animate", "amplitude", "0.21")
    editor.wait_checked()
    estimate = editor.node("animate").get_by_test_id("node-estimate")
    expect(estimate).to_contain_text("≈")
    total = editor.page.get_by_test_id("run-estimate")
    expect(total).to_contain_text("≈")
    assert "on this machine" in total.get_attribute("title")
    editor.page.get_by_test_id("run").click()
    editor.wait_run("done", timeout=120_000)
    expect(total).to_have_count(0)  # after the run: what it did, not what it would do
    # the run measured every call: the next estimate comes from those measurements
    set_param(editor, "animate", "amplitude", "0.22")
    editor.wait_checked()
    expect(estimate).to_contain_text("≈")
    assert "measured here (" in estimate.get_attribute("title")
    expect(editor.node("keyframe").get_by_test_id("node-estimate")).to_have_count(0)  # cached: costs nothing
    expect(editor.page.get_by_test_id("status")).to_contain_text("on this machine")
    shot(editor.page, "38-estimates-before-run")
