"""The editor follows the page it lives in, and fits the screen it is on.

Gradio's own Settings panel (the footer's "Settings") sets the theme and the language: the canvas
follows both. On a tablet the canvas keeps most of the width, and on a phone you can still open a
workflow, run it and watch it. Screenshots go to out/test-artifacts/editor/appearance-*.png.
"""

from __future__ import annotations

import re

from browser import shot
from playwright.sync_api import expect
from test_editor_browser import FINISHED, RES, Editor, app, browser  # noqa: F401 - the fixtures, shared

TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}


def luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of a computed `rgb(...)` / `rgba(...)` colour."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def background(page, selector: str) -> float:
    return luminance(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def open_page(browser, url: str, viewport=None, **context) -> Editor:  # noqa: F811 - the fixture
    ctx = browser.new_context(viewport=viewport or {"width": 1400, "height": 900}, **context)
    ed = Editor(ctx.new_page(), url)
    ed.open()
    return ed


def close(ed: Editor) -> None:
    ed.page.context.close()
    assert not [e for e in ed.errors if "favicon" not in e], f"console errors: {ed.errors}"


def gradio_settings(page):
    """The footer's Settings (Gradio's own panel, in Gradio's language), unless it is open already."""
    themes = page.locator(".theme-buttons")
    if not themes.is_visible():
        page.get_by_role("contentinfo").locator("button.settings").click()
    expect(themes).to_be_visible()
    return page.get_by_role("dialog")


def choose_gradio_theme(ed: Editor, name: str) -> None:
    """Settings > Display Theme > Light / Dark: Gradio reloads the page with ?__theme=..."""
    gradio_settings(ed.page)
    with ed.page.expect_navigation():
        ed.page.locator(".theme-buttons").get_by_role("button", name=re.compile(name)).click()
    ed.page.wait_for_selector(".rg-node[data-id]", timeout=30_000)


def close_gradio_settings(page) -> None:
    page.get_by_role("dialog").locator(".banner-wrap").first.locator(":scope > button").click()
    expect(page.locator(".theme-buttons")).to_have_count(0)


def choose_gradio_language(page, name: str) -> None:
    """Settings > Language: Gradio switches its language in place (no reload)."""
    gradio_settings(page).get_by_role("combobox").click()
    page.locator(f'li[role="option"][aria-label="{name}"]').click()


def no_sideways_scroll(page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    toolbar = page.locator(".rg-toolbar")
    assert toolbar.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert box(page, ".rg-root")["x"] >= 0 and box(page, ".rg-root")["x"] + box(page, ".rg-root")["width"] <= width


# ---------------------------------------------------------------------------------------------- theme
def test_gradio_light_theme_makes_the_canvas_light(app, browser):  # noqa: F811 - fixtures
    ed = open_page(browser, app["url"])
    assert background(ed.page, ".rg-canvas") < 0.05  # dark by default
    choose_gradio_theme(ed, "Light")
    assert "__theme=light" in ed.page.url
    assert background(ed.page, ".rg-canvas") > 0.75
    for panel in (".rg-palette", ".rg-inspector", ".rg-statusbar"):
        assert background(ed.page, panel) > 0.75, panel
    text = luminance(ed.page.eval_on_selector(".rg-root", "e => getComputedStyle(e).color"))
    assert text < 0.05  # dark text on the light panels
    expect(ed.page.locator(".rg-canvas .svelte-flow")).to_have_class(re.compile(r"\blight\b"))
    # a node's card and a toast are light too
    ed.select("keyframe")
    card = ed.page.eval_on_selector('.rg-node[data-id="keyframe"]', """n => getComputedStyle(
        n.closest('.rg-zoom-far') ? n.querySelector('.rg-far') : n).backgroundColor""")  # near or far form
    assert luminance(card) > 0.75
    ed.wire("keyframe.image", "voice.text")  # a wrong-type wire: its toast
    ed.toast()
    assert background(ed.page, '[data-testid="toast"]') > 0.75
    shot(ed.page, "appearance-01-light-theme")
    # near: a run's badges, messages and previews on the light canvas
    ed.page.get_by_test_id("open-input").set_input_files(str(RES / "two_texts.json"))
    ed.page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 2")
    ed.page.get_by_test_id("run").click()
    ed.wait_run("done", timeout=60_000)
    ed.select("greet")
    shot(ed.page, "appearance-01b-light-theme-ran")
    # and Dark brings the dark canvas back
    choose_gradio_theme(ed, "Dark")
    assert background(ed.page, ".rg-canvas") < 0.05
    close(ed)


def test_the_canvas_follows_the_system_theme_live(app, browser):  # noqa: F811 - fixtures
    # ?__theme=system is Gradio's System mode: it toggles the page's .dark class when the OS switches
    ed = Editor(browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark").new_page(),
                app["url"] + "?__theme=system")
    ed.open()
    assert background(ed.page, ".rg-canvas") < 0.05
    ed.page.emulate_media(color_scheme="light")  # no reload
    ed.page.wait_for_function("getComputedStyle(document.querySelector('.rg-canvas')).backgroundColor"
                              " !== 'rgb(14, 18, 25)'")
    assert background(ed.page, ".rg-canvas") > 0.75
    ed.page.emulate_media(color_scheme="dark")
    ed.page.wait_for_function("getComputedStyle(document.querySelector('.rg-canvas')).backgroundColor"
                              " === 'rgb(14, 18, 25)'")
    close(ed)


# ---------------------------------------------------------------------------------------------- language
def test_gradio_language_setting_switches_the_editor_language(app, browser):  # noqa: F811 - fixtures
    ed = open_page(browser, app["url"])
    run = ed.page.get_by_test_id("run")
    expect(run).to_contain_text("Run")
    choose_gradio_language(ed.page, "简体中文")
    expect(run).to_contain_text("运行")
    expect(ed.page.get_by_test_id("language")).to_have_value("zh-CN")
    expect(ed.page.get_by_test_id("palette-search")).to_have_attribute("placeholder", "搜索节点…")
    close_gradio_settings(ed.page)
    ed.page.evaluate("window.scrollTo(0, 0)")
    shot(ed.page, "appearance-02-gradio-language-zh")
    choose_gradio_language(ed.page, "English")
    expect(run).to_contain_text("Run")
    # the editor's own select still works, and a reload keeps the language picked last (Gradio
    # forgets its own choice on reload; the editor remembers it)
    ed.page.get_by_test_id("language").select_option("zh-CN")
    expect(run).to_contain_text("运行")
    ed.page.reload()
    ed.page.wait_for_selector(".rg-node[data-id]", timeout=30_000)
    expect(run).to_contain_text("运行")
    close(ed)


# ---------------------------------------------------------------------------------------------- tablet
def test_on_a_tablet_the_canvas_gets_most_of_the_width(app, browser):  # noqa: F811 - fixtures
    ed = open_page(browser, app["url"], TABLET, is_mobile=True, has_touch=True)
    page = ed.page
    no_sideways_scroll(page)
    root, canvas = box(page, ".rg-root"), box(page, ".rg-canvas")
    assert canvas["width"] >= 0.7 * root["width"], (canvas, root)
    assert canvas["height"] >= 600
    expect(page.locator(".rg-palette")).to_be_visible()  # the node list stays, narrower
    expect(page.get_by_test_id("inspector")).to_be_hidden()  # the inspector is a drawer
    for test_id in ("run", "stop", "open", "save", "language", "toggle-inspector"):
        expect(page.get_by_test_id(test_id)).to_be_in_viewport()
    shot(page, "appearance-03-tablet")
    page.get_by_test_id("toggle-inspector").tap()
    inspector = page.get_by_test_id("inspector")
    expect(inspector).to_be_visible()
    assert 280 <= inspector.bounding_box()["width"] <= 0.9 * root["width"]
    ed.node("keyframe").locator(".rg-node-title, header").first.tap()
    expect(inspector).to_have_attribute("data-node", "keyframe")
    expect(inspector.locator('[data-param="model"]')).to_be_visible()
    shot(page, "appearance-04-tablet-inspector")
    page.get_by_test_id("toggle-inspector").tap()
    expect(inspector).to_be_hidden()
    close(ed)


# ---------------------------------------------------------------------------------------------- phone
def test_on_a_phone_you_can_open_run_and_watch(app, browser):  # noqa: F811 - fixtures
    ed = open_page(browser, app["url"], PHONE, is_mobile=True, has_touch=True)
    page = ed.page
    no_sideways_scroll(page)
    canvas = box(page, ".rg-canvas")
    assert canvas["width"] > 300 and canvas["height"] > 250, canvas
    run = page.get_by_test_id("run")
    expect(run).to_be_in_viewport()
    page.get_by_test_id("open-input").set_input_files(str(RES / "two_texts.json"))
    page.wait_for_function("document.querySelectorAll('.rg-node[data-id]').length === 2")
    expect(ed.node("greet")).to_be_in_viewport()
    run.tap()
    ed.wait_run("done", timeout=60_000)
    statuses = ed.statuses()
    assert set(statuses) == {"hello", "greet"} and set(statuses.values()) <= set(FINISHED), statuses
    expect(ed.node("greet")).to_contain_text("Hello, world")  # what it made, on the canvas
    expect(page.get_by_test_id("status")).to_be_in_viewport()
    shot(page, "appearance-05-phone-ran")
    close(ed)


def test_on_a_phone_the_node_list_and_the_inspector_open_as_drawers(app, browser):  # noqa: F811 - fixtures
    ed = open_page(browser, app["url"] + "?__theme=light", PHONE, is_mobile=True, has_touch=True)
    page = ed.page
    palette, inspector = page.locator(".rg-palette"), page.get_by_test_id("inspector")
    expect(palette).to_be_hidden()
    expect(inspector).to_be_hidden()
    page.get_by_test_id("toggle-palette").tap()
    expect(palette).to_be_visible()
    assert palette.bounding_box()["width"] <= 0.9 * PHONE["width"]
    page.get_by_test_id("palette-search").fill("constant")
    expect(page.locator('[data-node-type="text.constant"]')).to_be_in_viewport()
    shot(page, "appearance-06-phone-node-list")
    page.get_by_test_id("toggle-inspector").tap()  # one drawer at a time
    expect(palette).to_be_hidden()
    expect(inspector).to_be_visible()
    expect(inspector.locator('[data-param="__name"]')).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "appearance-07-phone-inspector")
    page.get_by_test_id("toggle-inspector").tap()
    expect(inspector).to_be_hidden()
    close(ed)
