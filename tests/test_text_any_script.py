"""Text that draws in any script, wherever reelgraph draws text (common.draw): burned captions and
subtitles, the draft keyframe's caption and shot label.

A character no font has would draw as the same box (☒) whatever it is, so "the glyphs are drawn" is
tested by drawing two different texts of equal length and checking their pixels differ. Fonts come
from the system (Debian's Noto packages, installed by `make sysdeps` and .ci/run); a script whose
package is missing here is skipped, naming the package.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import node
from mediaprobe import video_frames
from PIL import Image as PILImage
from reelgraph.nodes.common import draw
from reelgraph.nodes.image._keyframe import draft_keyframe

# (script, Debian package, two different texts of the same length)
SCRIPTS = [
    ("Simplified Chinese", "fonts-noto-cjk", "灯塔在悬崖上亮起", "海浪拍打着黑色岩"),
    ("Traditional Chinese", "fonts-noto-cjk", "燈塔在懸崖上亮起", "海浪拍打著黑色岩"),
    ("Japanese", "fonts-noto-cjk", "夕暮れの灯台が光る", "さざなみが岩を打つ"),
    ("Korean", "fonts-noto-cjk", "해질녘 등대에 불이", "파도가 바위를 친다"),
    ("Latin with diacritics", "fonts-noto-core", "é ñ ï ë — €", "è ń î ē – £"),
    ("Cyrillic", "fonts-noto-core", "Маяк на скале", "Волна у камня"),
    ("Greek", "fonts-noto-core", "Ο φάρος λάμπει", "Τα κύματα χτυπ"),
    ("Arabic", "fonts-noto-core", "المنارة على الجرف", "الأمواج تضرب الصخر"[:17]),
    ("Hebrew", "fonts-noto-core", "המגדלור על הצוק", "הגלים מכים בסלע"),
    ("Devanagari", "fonts-noto-core", "चट्टान पर प्रकाश", "लहरें पत्थर पर ट"),
    ("emoji", "fonts-noto-color-emoji", "🌙🌊⛵🏠", "🌞🔥🐼🌸"),
]


def installed(package: str) -> bool:
    probe = {"fonts-noto-cjk": "灯", "fonts-noto-core": "ש", "fonts-noto-color-emoji": "🌙"}[package]
    face = draw.face_for(ord(probe))
    return face is not None and face.path != ""


def needs(package: str):
    return pytest.mark.skipif(not installed(package), reason=f"{package} is not installed (make sysdeps)")


def rendered(text: str, width: int = 640, height: int = 360, **kw) -> np.ndarray:
    return np.asarray(draw.caption_image(text, width, height, **{"font_size": 40, **kw}))


@pytest.fixture
def no_fonts(monkeypatch):
    """A machine where fontconfig finds no fonts: only Pillow's bundled Latin font is left."""
    monkeypatch.setattr(draw, "installed_faces", lambda: ())
    draw.face_for.cache_clear()
    yield
    draw.face_for.cache_clear()


# ---------------------------------------------------------------------------------------------
# glyphs in every script

@needs("fonts-noto-cjk")
def test_two_chinese_captions_of_equal_length_draw_different_glyphs():
    warnings: list[str] = []
    a = rendered("黄昏时分灯塔亮起", warn=warnings.append)
    b = rendered("海浪拍打岩石之上", warn=warnings.append)
    assert a.shape == b.shape and a[..., 3].any()
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 0.02 * a[..., 3].astype(bool).sum() * 255
    assert warnings == []


@pytest.mark.parametrize("script, package, one, other", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_each_script_draws_its_own_glyphs_without_a_warning(script, package, one, other):
    if not installed(package):
        pytest.skip(f"{package} is not installed (make sysdeps)")
    warnings: list[str] = []
    a, b = rendered(one, warn=warnings.append), rendered(other, warn=warnings.append)
    ink_a, ink_b = a[..., :3].max(axis=2) > 200, b[..., :3].max(axis=2) > 200  # the (white) letters
    assert ink_a.sum() > 100 and ink_b.sum() > 100, script
    assert (ink_a != ink_b).sum() > 0.2 * min(ink_a.sum(), ink_b.sum()), f"{script}: same pixels, boxes?"
    assert warnings == [], script


@needs("fonts-noto-color-emoji")
def test_emoji_draw_in_colour():
    img = rendered("🌙🔥🌸")
    rgb = img[..., :3].astype(int)
    saturated = (rgb.max(axis=2) - rgb.min(axis=2)) > 80
    assert saturated.sum() > 200  # a white outline box would have no colour


@needs("fonts-noto-core")
def test_arabic_and_hebrew_run_right_to_left_and_arabic_is_shaped():
    line = draw.shape_line("abc אבג", 40)
    assert [r.text.strip() for r in line.runs][0] == "abc"  # a left-to-right line keeps its order
    line = draw.shape_line("שלום abc", 40)
    assert line.runs[0].text.strip() == "abc" and line.runs[-1].rtl  # a right-to-left line: reversed
    if draw._has_raqm():  # joined Arabic letters are narrower than the isolated forms side by side
        joined = draw.text_width("سلام", 40)
        alone = sum(draw.text_width(c, 40) for c in "سلام")
        assert joined < alone * 0.95


# ---------------------------------------------------------------------------------------------
# line breaking

LONG_ZH = "黄昏时分，灯塔在悬崖上亮起，海浪拍打着岩石，老守塔人玛拉点亮了灯，一艘小船在远处的海面上摇晃。"
LONG_EN = "Every night for forty years, Mara climbed the spiral stairs and lit the great lamp above the sea."


@needs("fonts-noto-cjk")
@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (720, 720)], ids=["16:9", "9:16", "1:1"])
@pytest.mark.parametrize("text", [LONG_ZH, LONG_EN], ids=["chinese", "english"])
def test_wrapped_captions_stay_inside_the_frame_at_every_aspect(size, text):
    width, height = size
    img = rendered(text, width, height, font_size=0)  # the automatic size
    ys, xs = np.nonzero(img[..., 3])
    assert xs.min() > 0.02 * width and xs.max() < 0.98 * width  # clear of both edges
    assert ys.min() > 0 and ys.max() < height - 1
    block = draw.layout(text, round(height * 0.045), width * 0.8, max_lines=3)
    assert 1 < len(block.lines) <= 3 and all(line.width <= width * 0.8 for line in block.lines)


@needs("fonts-noto-cjk")
def test_chinese_breaks_between_characters_and_latin_only_at_spaces():
    lines = draw.break_lines("灯塔在悬崖上亮起海浪拍打着岩石", 40, 200)
    assert len(lines) > 1 and "".join(lines) == "灯塔在悬崖上亮起海浪拍打着岩石"
    words = set(LONG_EN.split())
    for line in draw.break_lines(LONG_EN, 40, 300):
        assert set(line.split()) <= words  # whole words only


CLOSING = "，。！？、）」』,.!?"
OPENING = "（「『("


@needs("fonts-noto-cjk")
def test_no_line_starts_with_closing_or_ends_with_opening_punctuation():
    text = "她说：「今天，天气很好！」我们（大家）都笑了。你呢？好、好、好。Yes, fine. 「真的」，是的。"
    for max_width in range(80, 420, 7):  # every width puts some punctuation at a would-be break
        lines = draw.break_lines(text, 24, max_width)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        for line in lines[1:]:
            assert line[0] not in CLOSING, (max_width, lines)
        for line in lines[:-1]:
            assert line[-1] not in OPENING, (max_width, lines)


@needs("fonts-noto-cjk")
def test_a_text_too_long_for_three_lines_gets_smaller_type_then_is_cut_with_a_warning():
    warnings: list[str] = []
    fits = draw.layout(LONG_ZH, 40, 500, max_lines=3, min_size=20, warn=warnings.append, what="shot 2's caption")
    assert fits.size < 40 and len(fits.lines) <= 3 and not fits.cut and warnings == []
    cut = draw.layout(LONG_ZH * 3, 40, 500, max_lines=3, min_size=30, warn=warnings.append,
                      what="shot 2's caption")
    assert cut.size == 30 and len(cut.lines) == 3 and cut.cut and cut.lines[-1].text.endswith("…")
    assert len(warnings) == 1 and "shot 2's caption" in warnings[0] and "shorten" in warnings[0]


# ---------------------------------------------------------------------------------------------
# no silent boxes

def test_a_missing_font_warns_once_naming_the_package_to_install(no_fonts):
    warnings: list[str] = []
    with draw.warnings_to(warnings.append):
        rendered("灯塔 🌙 café")
        rendered("海浪 🌊 naïve")  # the same packages again: no second warning
    assert len(warnings) == 3, warnings
    assert any("fonts-noto-cjk" in w and "灯" in w for w in warnings)
    assert any("fonts-noto-color-emoji" in w for w in warnings)
    assert any("fonts-noto-core" in w and "é" in w for w in warnings)
    assert all("apt-get install" in w for w in warnings)
    plain: list[str] = []
    rendered("Just ASCII, drawn with the bundled font.", warn=plain.append)
    assert plain == []


def test_the_burned_caption_node_tells_a_missing_font_on_the_node(no_fonts, ctx, monkeypatch):
    from test_video_nodes import caption, store_clip
    told: list[str] = []
    monkeypatch.setattr(ctx, "warn", told.append)
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 0.5)
    caption(ctx, clip, "灯塔亮起")
    assert len(told) == 1 and "fonts-noto-cjk" in told[0]


def test_the_keyframe_node_tells_a_missing_font_on_the_node(no_fonts, ctx, monkeypatch):
    told: list[str] = []
    monkeypatch.setattr(ctx, "warn", told.append)
    node("image.keyframe").run(ctx, prompt="A lighthouse at dusk.", label="灯塔", negative_prompt=None,
                               reference=None, aspect="16:9", resolution=90, width=1280, height=720, seed=1,
                               steps=0, guidance=0.0, caption=True, backend="draft", model="")
    assert len(told) == 1 and "fonts-noto-cjk" in told[0]


@needs("fonts-noto-core")
def test_without_raqm_text_still_draws_and_a_warning_names_libraqm(monkeypatch):
    monkeypatch.setattr(draw, "_has_raqm", lambda: False)
    draw._pil_font.cache_clear()
    try:
        warnings: list[str] = []
        img = rendered("المنارة على الجرف", warn=warnings.append)
        assert img[..., 3].any()
        assert len(warnings) == 1 and "libraqm0" in warnings[0]
    finally:
        draw._pil_font.cache_clear()


# ---------------------------------------------------------------------------------------------
# the draft keyframe's label and caption

def region(img: PILImage.Image, box) -> np.ndarray:
    return np.asarray(img.crop(tuple(box)).convert("L"), dtype=float)


@needs("fonts-noto-cjk")
def test_the_keyframe_label_and_caption_draw_chinese():
    prompt = "A lighthouse on a cliff at dusk."
    a = draft_keyframe(prompt, "", 3, 640, 360, tag="灯塔在悬崖上", aspect="16:9")
    b = draft_keyframe(prompt, "", 3, 640, 360, tag="海浪拍打岩石", aspect="16:9")
    label = a.info["text_boxes"][1]
    assert np.abs(region(a, label) - region(b, label)).mean() > 3
    c = draft_keyframe("黄昏时分，灯塔在悬崖上亮起。", "", 3, 640, 360, tag=None, aspect="16:9")
    d = draft_keyframe("黄昏时分，海浪拍打着岩石。", "", 3, 640, 360, tag=None, aspect="16:9")
    band = c.info["text_boxes"][-1]
    assert band == d.info["text_boxes"][-1] and band[3] == 360
    assert np.abs(region(c, band) - region(d, band)).mean() > 3


@pytest.mark.parametrize("aspect, size", [("16:9", (1280, 720)), ("9:16", (720, 1280)), ("1:1", (720, 720))])
def test_the_shot_label_stays_clear_of_the_seed_tag_and_inside_the_frame(aspect, size):
    w, h = size
    img = draft_keyframe("A quiet street after rain.", "", 11, w, h, aspect=aspect,
                         tag="The street is damp, neon signs reflect in every puddle along the avenue")
    info, label, _ = img.info["text_boxes"]
    assert label[2] < info[0]  # the label ends left of the seed tag
    assert all(0 <= v for v in label) and label[2] <= w and label[3] <= h


def test_the_shot_label_stays_fixed_and_whole_through_a_camera_move(ctx):
    from test_video_nodes import i2v
    key = node("image.keyframe").run(ctx, prompt="A lighthouse on a cliff at dusk.", label="SHOT 3 the street is damp",
                                     negative_prompt=None, reference=None, aspect="16:9", resolution=180,
                                     width=1280, height=720, seed=2, steps=0, guidance=0.0, caption=True,
                                     backend="draft", model="")
    boxes = key.meta["text_boxes"]
    assert len(boxes) == 3  # seed tag, label, caption band
    with PILImage.open(key.path) as im:
        still = np.asarray(im.convert("L"), dtype=float)
    for camera in ("push_in", "pan_right"):
        frames = video_frames(i2v(ctx, key, camera=camera, amplitude=0.3, seconds=1.0).path)
        last = frames[-1].astype(float)
        assert np.abs(last - still).mean() > 4, camera  # the scene did move
        for x0, y0, x1, y1 in boxes:  # ...but the text did not: same pixels, up to the codec
            assert np.abs(last[y0:y1, x0:x1] - still[y0:y1, x0:x1]).mean() < 4, (camera, (x0, y0, x1, y1))
