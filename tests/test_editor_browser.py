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
        self.page.wait_for_function(f"document.querySelectorAll('.rg-node[data-id]').length > {len(before)}")
        self.page.get_by_test_id("palette-search").fill("")
        (new,) = self.node_ids() - before
        return new

    def select(self, node_id: str) -> None:
        self.node(node_id).locator(".rg-node-title, header").first.click()
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
            self.page.get_by_test_id("save").click()
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
    t1 = time.perf_counter()
    ed.select("n100")
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
