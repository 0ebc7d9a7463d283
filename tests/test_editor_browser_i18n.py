"""The editor in Simplified Chinese and English, in a real browser.

It follows the browser's language (zh* -> 简体中文, else English), the toolbar's language switch
changes it on the spot (node titles and tooltips included) and the choice is remembered.
Screenshots go to out/test-artifacts/editor/ (look at them).
"""

from __future__ import annotations

import re

import pytest
from browser import shot
from playwright.sync_api import expect
from test_editor_browser import Editor, app, browser  # noqa: F401  (the fixtures: one app, one chromium)


@pytest.fixture
def open_editor(app, browser):  # noqa: F811
    contexts = []

    def make(locale: str) -> Editor:
        ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale=locale)
        contexts.append(ctx)
        ed = Editor(ctx.new_page(), app["url"])
        ed.open()
        return ed

    yield make
    for ctx in contexts:
        ctx.close()


def toolbar_labels(ed: Editor) -> dict[str, str]:
    """What each button says: its words, or for an icon-only button its accessible name."""
    def label(tid: str) -> str:
        b = ed.page.get_by_test_id(tid)
        text = b.inner_text().replace("⌘", "").replace("Ctrl⏎", "").replace("•", "").strip()
        return text or b.get_attribute("aria-label") or ""
    return {tid: label(tid) for tid in ("run", "stop", "save", "open", "examples")}


def test_a_chinese_browser_gets_a_chinese_editor_and_the_switch_turns_it_english(open_editor):
    ed = open_editor("zh-CN")
    page = ed.page
    expect(page.get_by_test_id("language")).to_have_value("zh-CN")
    assert toolbar_labels(ed) == {"run": "运行", "stop": "停止", "save": "保存", "open": "打开", "examples": "示例"}
    expect(page.locator('.rg-group[data-category="image"] .rg-group-title')).to_have_text("图像")
    expect(page.locator("#rg-output")).to_contain_text("输出")  # Gradio's own panels follow the browser too
    # the status line Python sends reads Chinese too ("Ready: 13 nodes will run, 0 cached")
    expect(page.get_by_test_id("status")).to_contain_text(re.compile(r"就绪：(将运行|全部已缓存)"))

    node = ed.add_from_palette("image.keyframe")
    expect(ed.node(node).locator(".rg-node-title")).to_have_text("关键帧")
    # a title the workflow gave that only repeats the English default shows translated too
    expect(ed.node("music").locator(".rg-node-title")).to_have_text("音乐")
    expect(ed.node("story").locator(".rg-node-title")).to_have_text("Storyboard")  # a chosen title stays
    ed.select(node)
    inspector = page.get_by_test_id("inspector")
    expect(inspector.get_by_test_id("inspector-title")).to_have_text("关键帧")
    expect(inspector.locator(".rg-insp-section").first).to_have_text("参数")
    aspect = inspector.locator('[data-param="aspect"]')
    expect(aspect.locator(".rg-field-label")).to_contain_text("画幅")  # the port glossary
    expect(aspect.locator(".rg-field-doc")).to_contain_text("Frame shape")  # no translation yet: English
    # the validator's words for the new node's unwired prompt, with their fix
    expect(inspector.locator(".rg-insp-issue").first).to_contain_text("必需的输入（Text）未连接")
    expect(inspector.locator(".rg-insp-issue").first).to_contain_text(f"把一个 Text 输出连到 {node}.prompt")
    page.locator('.rg-pal-item[data-node-type="image.keyframe"]').hover()
    expect(page.get_by_test_id("tooltip")).to_contain_text("根据提示词绘制关键帧")
    shot(page, "i18n-zh-CN")
    ed.wire("keyframe.image", "voice.text")  # refused, and the reason reads in Chinese
    assert "接收 Text，而不是 List[Image]：请连接一个 Text 输出" in ed.toast()
    assert not ed.errors, ed.errors

    page.get_by_test_id("language").select_option("en")
    assert toolbar_labels(ed) == {"run": "Run", "stop": "Stop", "save": "Save", "open": "Open", "examples": "Examples"}
    expect(ed.node(node).locator(".rg-node-title")).to_have_text("Keyframe")
    expect(inspector.get_by_test_id("inspector-title")).to_have_text("Keyframe")
    expect(page.locator('.rg-group[data-category="image"] .rg-group-title')).to_have_text("Image")
    expect(inspector.locator(".rg-insp-issue").first).to_contain_text("required input (Text) is not connected")
    # (the keyframe added above has no prompt wired: one problem)
    expect(page.get_by_test_id("status")).to_contain_text(re.compile(r"\d+ problems? to fix before running"))
    shot(page, "i18n-en-switched")

    page.reload()  # the choice outlives the page, over the browser's own language
    page.wait_for_selector(".rg-node[data-id]")
    expect(page.get_by_test_id("language")).to_have_value("en")
    assert toolbar_labels(ed)["run"] == "Run"


def test_an_english_browser_gets_english_and_can_switch_to_chinese(open_editor):
    ed = open_editor("en-US")
    page = ed.page
    expect(page.get_by_test_id("language")).to_have_value("en")
    assert toolbar_labels(ed)["run"] == "Run"
    expect(page.locator("#rg-output")).to_contain_text("Output")
    expect(ed.node("music").locator(".rg-node-title")).to_have_text("Music")

    page.get_by_test_id("language").select_option("zh-CN")
    assert toolbar_labels(ed)["run"] == "运行"
    expect(ed.node("music").locator(".rg-node-title")).to_have_text("音乐")
    expect(page.locator(".rg-sb-counts")).to_contain_text("个节点")
    expect(page.get_by_test_id("palette-search")).to_have_attribute("placeholder", "搜索节点…")
    shot(page, "i18n-en-to-zh-CN")
    assert not ed.errors, ed.errors
