"""The image nodes (image.keyframe, image.upscale) and the image I/O nodes (io.load_image, io.save_image)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import node
from PIL import Image as PILImage
from reelgraph import graph
from reelgraph.graph import Cancelled, CancelToken, NodeError, RunContext

FOX = "A red fox in fresh snow at sunrise, pine forest behind"
CITY = "Two women talk in a neon city street at night"
LIGHTHOUSE = "Wide view of a lighthouse on a cliff at dusk, waves crashing on the rocks below"


def keyframe(ctx, prompt=FOX, *, aspect="16:9", resolution=90, width=1280, height=720, seed=1, label=None,
             negative_prompt=None, reference=None, backend="draft", caption=True):
    return node("image.keyframe").run(ctx, prompt=prompt, label=label, negative_prompt=negative_prompt,
                                      reference=reference, aspect=aspect, resolution=resolution, width=width,
                                      height=height, seed=seed, steps=4, guidance=0.0, caption=caption,
                                      backend=backend, model="")


def pixels(ref) -> np.ndarray:
    with PILImage.open(ref.path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def store_image(ctx, arr: np.ndarray):
    path = ctx.temp_path(".png")
    PILImage.fromarray(arr.astype(np.uint8)).save(path)
    return ctx.store_file(path, "image", width=arr.shape[1], height=arr.shape[0])


def solid(ctx, colour, size=(160, 90)):
    return store_image(ctx, np.full((size[1], size[0], 3), colour, np.uint8))


# ---------------------------------------------------------------------------------------------
# image.keyframe

@pytest.mark.parametrize("aspect,size", [("16:9", (160, 90)), ("9:16", (90, 160)), ("1:1", (90, 90)),
                                         ("4:3", (120, 90)), ("21:9", (210, 90))])
def test_keyframe_size_follows_aspect_and_short_side(ctx, aspect, size):
    ref = keyframe(ctx, aspect=aspect, resolution=90)
    with PILImage.open(ref.path) as im:
        assert im.size == size and im.format == "PNG" and im.mode == "RGB"
    assert (ref.width, ref.height) == size
    assert ref.aspect == aspect


def test_keyframe_sizes_at_720_and_custom():
    from reelgraph.nodes.image.keyframe import frame_size
    assert frame_size("16:9", 720, 0, 0) == (1280, 720)
    assert frame_size("9:16", 720, 0, 0) == (720, 1280)
    assert frame_size("21:9", 720, 0, 0) == (1680, 720)
    assert frame_size("4:3", 720, 0, 0) == (960, 720)
    assert frame_size("16:9", 541, 0, 0) == (960, 540)  # an odd short side is made even
    assert frame_size("custom", 720, 200, 100) == (200, 100)


def test_keyframe_custom_size_is_used(ctx):
    ref = keyframe(ctx, aspect="custom", width=132, height=96)
    assert pixels(ref).shape == (96, 132, 3)


def test_keyframe_odd_custom_size_is_refused_naming_the_field(ctx):
    with pytest.raises(NodeError) as e:
        keyframe(ctx, aspect="custom", width=161, height=90)
    assert e.value.field == "width" and "odd" in e.value.message and "160" in e.value.fix


def test_keyframe_refuses_more_than_8192_a_side(ctx):
    with pytest.raises(NodeError) as e:
        keyframe(ctx, aspect="21:9", resolution=4320)
    assert e.value.field == "resolution" and "8192" in e.value.message


def test_keyframe_is_deterministic_to_the_byte(tmp_path):
    a = keyframe(RunContext.standalone(tmp_path / "a"), label="3", seed=7)
    b = keyframe(RunContext.standalone(tmp_path / "b"), label="3", seed=7)
    assert a.digest == b.digest
    assert Path(a.path).read_bytes() == Path(b.path).read_bytes()


def test_keyframes_differ_across_prompts(ctx):
    frames = [pixels(keyframe(ctx, p, resolution=180)) for p in (FOX, CITY, LIGHTHOUSE, "A quiet moment")]
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            assert np.abs(frames[i] - frames[j]).mean() > 15, (i, j)


def test_keyframes_differ_across_seeds(ctx):
    for prompt in (CITY, "A quiet moment"):
        a, b = (pixels(keyframe(ctx, prompt, resolution=180, seed=s)) for s in (1, 2))
        assert np.abs(a - b).mean() > 8


def test_keyframe_light_words_choose_the_palette(ctx):
    night = pixels(keyframe(ctx, "a harbour at night", resolution=180))
    day = pixels(keyframe(ctx, "a harbour at noon, sunny day", resolution=180))
    dusk = pixels(keyframe(ctx, "a harbour at dusk", resolution=180))
    sky = slice(30, 90)  # below the tags, above the horizon
    assert night[sky].mean() + 60 < day[sky].mean()
    assert day[sky, :, 2].mean() > day[sky, :, 0].mean()  # a blue day sky
    assert dusk[sky, :, 0].mean() > dusk[sky, :, 2].mean()  # a warm dusk sky


def test_keyframe_caption_band_is_legible(ctx):
    ref = keyframe(ctx, LIGHTHOUSE, resolution=360)
    lum = pixels(ref) @ np.array([0.299, 0.587, 0.114], np.float32)
    band = lum[-28:, 64:-64]  # inside the caption band at the bottom, where the text is
    assert np.percentile(band, 50) < 70  # a dark band...
    assert np.percentile(band, 99.5) > 200  # ...with white letters on it
    assert (band > 200).mean() > 0.02
    empty = pixels(keyframe(ctx, "", resolution=360)) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert (empty[-28:, 64:-64] > 200).mean() < (band > 200).mean() / 4  # no prompt, no caption text


def test_keyframe_caption_band_can_be_turned_off_for_subtitles(ctx):
    lum = np.array([0.299, 0.587, 0.114], np.float32)
    with_band = pixels(keyframe(ctx, LIGHTHOUSE, resolution=360)) @ lum
    without = pixels(keyframe(ctx, LIGHTHOUSE, resolution=360, caption=False)) @ lum
    assert (without[-28:, 64:-64] > 200).mean() < (with_band[-28:, 64:-64] > 200).mean() / 4
    assert np.abs(with_band[:200] - without[:200]).mean() < np.abs(with_band[-28:] - without[-28:]).mean()


def test_keyframe_caption_is_the_shot_sentence():
    from reelgraph.nodes.image._keyframe import caption_text
    long = "Finn in a tiny boat at night, clutching the oars. Medium shot, 35mm lens. Moody watercolour."
    assert caption_text(long) == "Finn in a tiny boat at night, clutching the oars."
    assert caption_text("INT. KITCHEN. Mara cooks dinner. Warm light.") == "INT. KITCHEN. Mara cooks dinner."
    assert caption_text("  a fox\n in   the snow ") == "a fox in the snow"


def test_keyframe_label_goes_in_a_corner_tag(ctx):
    plain = pixels(keyframe(ctx, seed=3, resolution=180))
    tagged = pixels(keyframe(ctx, seed=3, resolution=180, label="12"))
    diff = np.abs(plain - tagged).mean(axis=2)
    assert diff[:30, :80].mean() > 10  # the top-left corner changed
    assert diff[60:, :].mean() < 0.5  # the rest did not
    from reelgraph.nodes.image.keyframe import shot_tag
    assert shot_tag("12") == "SHOT 12" and shot_tag("Shot 3 — the keeper") == "Shot 3 — the keeper"
    assert shot_tag(None) is None and shot_tag("  ") is None


def test_keyframe_reference_lends_its_palette(ctx):
    base = pixels(keyframe(ctx, "A quiet moment", resolution=180, seed=5))
    red = pixels(keyframe(ctx, "A quiet moment", resolution=180, seed=5, reference=solid(ctx, (200, 30, 30))))
    blue = pixels(keyframe(ctx, "A quiet moment", resolution=180, seed=5, reference=solid(ctx, (30, 40, 210))))
    body = slice(20, 140)
    assert np.abs(red - base).mean() > 10
    assert red[body, :, 0].mean() > blue[body, :, 0].mean() + 40
    assert blue[body, :, 2].mean() > red[body, :, 2].mean() + 40


def test_keyframe_meta(ctx):
    long_prompt = "a lighthouse " * 80
    ref = keyframe(ctx, long_prompt, seed=42, aspect="4:3")
    assert ref.kind == "image" and ref.ext == ".png"
    assert (ref.width, ref.height, ref.seed, ref.aspect) == (120, 90, 42, "4:3")
    assert ref.prompt == long_prompt[:500] and len(ref.prompt) == 500


def test_keyframe_negative_prompt_removes_what_it_names():
    from reelgraph.nodes.image._scene import analyse
    assert analyse(CITY).people == 2
    assert analyse(CITY, negative="people, person").people == 0
    assert "city" in analyse(CITY, negative="blurry, watermark").tags


def test_keyframe_reads_the_scene_from_the_words():
    from reelgraph.nodes.image._scene import analyse
    s = analyse("Close up of Mara at the window, rain streaking the glass")
    assert s.framing == "close" and s.people == 1 and {"interior", "rain"} <= s.tags
    s = analyse("Morning on the beach, Mara and Finn walk together under a clear sky.")
    assert s.time == "dawn" and s.people == 2 and {"water", "beach"} <= s.tags
    s = analyse(FOX)
    assert s.animal == "fox" and s.time == "dawn" and {"snow", "forest"} <= s.tags and s.people == 0


def test_keyframe_model_that_is_not_here_says_how_to_get_it(ctx):
    with pytest.raises(NodeError) as e:
        keyframe(ctx, backend="diffusers")
    assert e.value.field == "model"
    assert "reelgraph models pull sd-turbo" in e.value.fix and "draft" in e.value.fix


def test_keyframe_stops_when_cancelled(tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        keyframe(RunContext.standalone(tmp_path, cancel=token))
    assert not list((tmp_path / "store").rglob("*.png"))


def test_keyframe_full_hd_frame_draws_every_kind_of_scene(ctx):
    prompts = [LIGHTHOUSE, CITY, FOX, "Mara climbs the spiral stairs inside the tower, lantern in hand.",
               "Aerial view of a desert road with a red car at noon", "A storm over the mountains, fog, birds",
               "A spaceship drifts past a planet among the stars", "Finn in a tiny boat on black waves at night",
               "A campfire in a field, a horse and a deer", "Close-up of a woman, medium shot, low angle"]
    for i, p in enumerate(prompts):
        ref = keyframe(ctx, p, resolution=720 if i == 0 else 180, seed=i)
        arr = pixels(ref)
        assert arr.std() > 20, p  # a picture, not a flat fill


# ---------------------------------------------------------------------------------------------
# image.upscale

def upscale(ctx, image, mode="x2", width=0, height=0, method="lanczos"):
    return node("image.upscale").run(ctx, image=image, mode=mode, width=width, height=height, method=method,
                                     backend="draft", model="")


def test_upscale_modes_give_even_sizes(ctx):
    src = keyframe(ctx)  # 160x90
    assert pixels(upscale(ctx, src, "x2")).shape == (180, 320, 3)
    assert pixels(upscale(ctx, src, "x4")).shape == (360, 640, 3)
    assert pixels(upscale(ctx, src, "to_size", width=300)).shape == (168, 300, 3)  # 168.75 -> even
    out = upscale(ctx, src, "to_size", height=201)  # odd: rounded to an even neighbour, aspect kept
    assert out.height in (200, 202) and out.width == 358 and pixels(out).shape == (out.height, 358, 3)
    assert pixels(upscale(ctx, src, "to_size", width=250, height=250)).shape == (250, 250, 3)
    odd = store_image(ctx, np.zeros((51, 75, 3), np.uint8))
    out = upscale(ctx, odd, "x2")
    assert (out.width, out.height) == (150, 102) and pixels(out).shape == (102, 150, 3)
    out = upscale(ctx, odd, "to_size", width=100)
    assert (out.width, out.height) == (100, 68)


def test_upscale_keeps_the_picture_and_its_meta(ctx):
    src = keyframe(ctx, seed=9)
    out = upscale(ctx, src, "x2")
    back = np.asarray(PILImage.open(out.path).resize((160, 90), PILImage.BOX), np.float32)
    assert np.abs(back - pixels(src)).mean() < 3  # the same picture, only bigger
    assert (out.width, out.height, out.seed) == (320, 180, 9)
    bicubic = upscale(ctx, src, "x2", method="bicubic")
    assert bicubic.digest != out.digest


def test_upscale_sharpens_edges_a_little(ctx):
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[:, 20:] = 200
    out = pixels(upscale(ctx, store_image(ctx, arr), "x4"))
    row = out[80, :, 0]
    soft = np.asarray(PILImage.fromarray(arr).resize((160, 160), PILImage.LANCZOS), np.float32)[80, :, 0]
    assert np.abs(np.diff(row)).max() >= np.abs(np.diff(soft)).max()  # at least as crisp as plain Lanczos
    assert row[:70].max() < 20 and row[90:].min() > 180  # flat areas stay flat


def test_upscale_refuses_absurd_sizes(ctx):
    wide = store_image(ctx, np.zeros((4, 2100, 3), np.uint8))
    with pytest.raises(NodeError) as e:
        upscale(ctx, wide, "x4")
    assert e.value.field == "mode" and "8192" in e.value.message and "smaller" in e.value.fix
    assert upscale(ctx, wide, "x2").width == 4200  # x2 still fits
    from reelgraph.nodes.common.frames import target_size
    with pytest.raises(NodeError) as e:
        target_size(160, 90, "to_size", 9000, 0)
    assert e.value.field == "width"
    with pytest.raises(NodeError) as e:  # the width the user set makes the height too tall
        target_size(1000, 10000, "to_size", 1000, 0)
    assert e.value.field == "width" and "1000×10000" in e.value.message
    assert target_size(4096, 2048, "x2", 0, 0) == (8192, 4096)


def test_upscale_to_size_needs_a_width_or_height(ctx):
    with pytest.raises(NodeError) as e:
        upscale(ctx, keyframe(ctx), "to_size")
    assert e.value.field == "width" and "keeps the aspect" in e.value.fix


# ---------------------------------------------------------------------------------------------
# io.load_image

def load(ctx, path):
    return node("io.load_image").run(ctx, path=path)


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(arr.astype(np.uint8)).save(path)
    return path


def test_load_image_stores_an_rgb_png(tmp_path, ctx):
    arr = np.zeros((30, 50, 3), np.uint8)
    arr[:, :25] = (255, 0, 0)
    PILImage.fromarray(arr).save(tmp_path / "photo.jpg", quality=95)
    ref = load(ctx, "photo.jpg")
    assert ref.kind == "image" and ref.ext == ".png" and (ref.width, ref.height) == (50, 30)
    assert ref.source == "photo.jpg"
    out = pixels(ref)
    assert out[15, 5, 0] > 200 and out[15, 45, 0] < 40


def test_load_image_turns_photos_upright_from_exif(tmp_path, ctx):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (230, 20, 20)  # left half red (stored sideways)
    arr[:, 20:] = (20, 20, 230)  # right half blue
    exif = PILImage.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    PILImage.fromarray(arr).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    ref = load(ctx, "phone.jpg")
    out = pixels(ref)
    assert (ref.width, ref.height) == (20, 40) and out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 180 and out[5, 10, 2] < 80  # red on top
    assert out[35, 10, 2] > 180 and out[35, 10, 0] < 80  # blue at the bottom


def test_load_image_puts_transparency_over_black(tmp_path, ctx):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :, :3] = 255
    rgba[:, 5:, 3] = 255  # right half opaque white, left half transparent
    PILImage.fromarray(rgba).save(tmp_path / "logo.png")
    out = pixels(load(ctx, "logo.png"))
    assert out[5, 1].max() == 0 and out[5, 8].min() == 255


def test_load_image_missing_file_names_the_path_field(ctx):
    with pytest.raises(NodeError) as e:
        load(ctx, "nowhere.png")
    assert e.value.field == "path" and "not found" in e.value.message and e.value.fix


def test_load_image_refuses_a_file_that_is_not_an_image(tmp_path, ctx):
    (tmp_path / "notes.png").write_text("just some text, not pixels")
    with pytest.raises(NodeError) as e:
        load(ctx, "notes.png")
    assert e.value.field == "path" and "not an image" in e.value.message
    assert "PNG, JPEG" in e.value.fix


def test_load_image_refuses_truncated_data(tmp_path, ctx):
    write_png(tmp_path / "full.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3)))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(NodeError) as e:
        load(ctx, "cut.png")
    assert e.value.field == "path" and "cut.png" in e.value.message


def test_load_image_refuses_paths_outside_the_workspace(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    write_png(tmp_path / "secret.png", np.zeros((4, 4, 3)))
    ctx = RunContext.standalone(work)
    for path in ("../secret.png", str(tmp_path / "secret.png")):
        with pytest.raises(NodeError) as e:
            load(ctx, path)
        assert e.value.field == "path" and "outside the workspace" in e.value.message


def test_load_image_refuses_a_folder_and_an_empty_path(tmp_path, ctx):
    (tmp_path / "pics").mkdir()
    with pytest.raises(NodeError) as e:
        load(ctx, "pics")
    assert e.value.field == "path" and "folder" in e.value.message
    with pytest.raises(NodeError) as e:
        load(ctx, "")
    assert e.value.field == "path"


def test_load_image_fingerprint_follows_the_file(tmp_path):
    cls = node("io.load_image").__class__
    path = write_png(tmp_path / "a.png", np.zeros((4, 4, 3)))
    first = cls.fingerprint({"path": "a.png"}, tmp_path)
    assert first and first == cls.fingerprint({"path": "a.png"}, tmp_path)
    write_png(path, np.full((6, 6, 3), 255))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert cls.fingerprint({"path": "a.png"}, tmp_path) not in (None, first)
    assert cls.fingerprint({"path": "gone.png"}, tmp_path) == "missing"
    assert cls.fingerprint({"path": ""}, tmp_path) is None


def test_load_image_reruns_in_a_workflow_when_the_file_changes(tmp_path, wf):
    photo = write_png(tmp_path / "photo.png", np.zeros((20, 30, 3)))
    flow = wf({"load": ("io.load_image", {"path": "photo.png"}),
               "big": ("image.upscale", {"mode": "x2"})}, [("load.image", "big.image")])

    def run():
        return graph.run(flow, cache=tmp_path / "c", workspace=tmp_path)

    first = run()
    assert first.ok, first.failures
    assert "load" in first.ran and first.value("big.image").width == 60
    second = run()
    assert "load" in second.cached and "load" not in second.ran
    write_png(photo, np.zeros((40, 50, 3)))
    os.utime(photo, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    third = run()
    assert "load" in third.ran and third.value("big.image").width == 100


# ---------------------------------------------------------------------------------------------
# io.save_image

def save(ctx, image, filename="", format="png"):
    return node("io.save_image").run(ctx, image=image, filename=filename, format=format)


def test_save_image_is_an_uncached_output_node():
    spec = graph.default_registry().get("io.save_image")
    assert spec.output and not spec.cacheable
    assert list(spec.inputs) == ["image"] and list(spec.outputs) == ["image"]
    assert {"filename", "format"} <= set(spec.params)


def test_save_image_writes_the_file_in_each_format(tmp_path, ctx):
    src = keyframe(ctx)
    for fmt, name, pil in (("png", "out/a.png", "PNG"), ("jpeg", "out/b", "JPEG"), ("webp", "out/c.webp", "WEBP")):
        ref = save(ctx, src, name, fmt)
        target = tmp_path / (name if Path(name).suffix else name + ".jpg")
        with PILImage.open(target) as im:
            assert im.format == pil and im.size == (160, 90)
        assert target.read_bytes() == Path(ref.path).read_bytes()
        assert (ref.width, ref.height, ref.format) == (160, 90, fmt)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")]
    png = pixels(save(ctx, src, "", "png"))
    assert np.array_equal(png, pixels(src))  # PNG is lossless


def test_save_image_without_filename_keeps_it_in_the_store_only(tmp_path, ctx):
    before = sorted(p for p in tmp_path.rglob("*") if "store" not in p.parts)
    ref = save(ctx, keyframe(ctx))
    assert Path(ref.path).is_file() and ref.kind == "image"
    assert sorted(p for p in tmp_path.rglob("*") if "store" not in p.parts) == before


def test_save_image_filename_errors_name_the_field(tmp_path, ctx):
    src = keyframe(ctx)
    with pytest.raises(NodeError) as e:
        save(ctx, src, "../escape.png")
    assert e.value.field == "filename" and "outside the workspace" in e.value.message
    assert not (tmp_path.parent / "escape.png").exists()
    with pytest.raises(NodeError) as e:
        save(ctx, src, "frame.jpg", "png")
    assert e.value.field == "filename" and "frame.png" in e.value.fix and "jpeg" in e.value.fix
    (tmp_path / "shots.png").mkdir()
    with pytest.raises(NodeError) as e:
        save(ctx, src, "shots.png")
    assert e.value.field == "filename" and "folder" in e.value.message


def test_workflow_keyframe_to_saved_png_reopens_as_the_same_workflow(tmp_path, wf):
    flow = wf({"prompt": ("text.constant", {"text": LIGHTHOUSE}),
               "frame": ("image.keyframe", {"resolution": 90, "seed": 4}),
               "shot": ("number.integer", {"value": 2}),
               "save": ("io.save_image", {"filename": "renders/shot"})},
              [("prompt.out", "frame.prompt"), ("shot.out", "frame.label"), ("frame.image", "save.image")])
    result = graph.run(flow, cache=tmp_path / "c", workspace=tmp_path)
    assert result.ok, result.failures
    saved = tmp_path / "renders" / "shot.png"
    with PILImage.open(saved) as im:
        assert im.size == (160, 90)
    restored = graph.load(saved)
    assert restored.to_dict()["nodes"] == graph.load(flow).to_dict()["nodes"]
    assert restored.to_dict()["edges"] == graph.load(flow).to_dict()["edges"]
    ref = result.value("save.image")
    assert graph.load(ref.path).to_dict()["nodes"] == restored.to_dict()["nodes"]  # the stored copy too
    frame = result.value("frame.image")
    assert (frame.width, frame.height, frame.seed) == (160, 90, 4)
