"""The draft keyframe understands every storyboard: Chinese prompts shape the picture as English ones do,
and the common subjects a prompt names (animals, people, vehicles, objects) appear in the frame."""

import numpy as np
import pytest
from reelgraph.nodes.image import _keyframe as kf
from reelgraph.nodes.image._scene import _TAGS, ZH_WORDS, analyse, gloss, segment
from reelgraph.nodes.story import _vocab
from reelgraph.nodes.story._expand import expand

# subject: (what the scene must say, an English prompt, the same in Chinese)
SUBJECTS = {
    "panda": (lambda s: s.has("panda"), "a panda in the morning", "早晨，一只熊猫"),
    "cat": (lambda s: s.animal == "cat", "a cat in the morning", "早晨，一只猫"),
    "dog": (lambda s: s.animal == "dog", "a dog in the morning", "早晨，一只狗"),
    "horse": (lambda s: s.animal == "horse", "a horse in the morning", "早晨，一匹马"),
    "bird": (lambda s: s.has("bird"), "a bird in the morning", "早晨，一只鸟"),
    "woman close-up": (lambda s: s.people == 1 and s.framing == "close", "close-up of a woman in the morning",
                       "早晨，女人特写"),
    "man close-up": (lambda s: s.people == 1 and s.framing == "close", "close-up of a man in the morning",
                     "早晨，男人特写"),
    "crowd": (lambda s: s.people >= 5, "a crowd in the morning", "早晨，人群"),
    "ship": (lambda s: s.has("ship") and s.has("water"), "a ship in the morning", "早晨，一艘船"),
    "boat": (lambda s: s.has("boat") and s.has("water"), "a boat on the lake in the morning", "早晨，湖上的小船"),
    "car": (lambda s: s.has("car"), "a car in the morning", "早晨，一辆汽车"),
    "train": (lambda s: s.has("train"), "a train in the morning", "早晨，一列火车"),
    "table": (lambda s: s.has("table"), "a table in the morning", "早晨，一张桌子"),
    "flowers": (lambda s: s.has("flowers"), "flowers in the morning", "早晨，一束花"),
    "cards": (lambda s: s.has("cards"), "playing cards in the morning", "早晨，纸牌"),
    "cards (卡片)": (lambda s: s.has("cards"), "cards in the morning", "早晨，卡片"),
    "lamp": (lambda s: s.has("lamp"), "a lamp in the morning", "早晨，一盏灯"),
}
WITHOUT = {"en": "in the morning", "zh": "早晨"}


def frame(prompt: str, w: int = 320, h: int = 180) -> np.ndarray:
    """The drawing itself for a prompt, with the layout and palette fixed (same rng): only what the words
    name can differ between two prompts."""
    scene = analyse(prompt)
    pal = kf.palette_for(scene, np.random.default_rng(5))
    img = kf.render(scene, w, h, np.random.default_rng(11), pal, caption="", tag=None, info="")
    return np.asarray(img, dtype=np.int16)


@pytest.mark.parametrize("name", list(SUBJECTS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_subject_is_read_and_drawn_in_english_and_chinese(name, lang):
    detected, en, zh = SUBJECTS[name]
    prompt = en if lang == "en" else zh
    assert detected(analyse(prompt)), f"{prompt!r} was read as {analyse(prompt)}"
    changed = np.abs(frame(prompt) - frame(WITHOUT[lang])).max(axis=2) > 24
    assert changed.mean() > 0.01, f"{prompt!r} draws nothing the frame without it lacks"


def test_a_panda_is_black_and_white_not_a_plain_silhouette():
    img = frame("a panda in the morning")
    grey = (np.ptp(img, axis=2) < 24)
    assert ((img.mean(axis=2) > 170) & grey).mean() > 0.02  # white fur
    assert ((img.mean(axis=2) < 40) & grey).mean() > 0.02  # black ears, eyes, arms and legs


def test_a_woman_in_close_up_is_drawn_unlike_a_man():
    for woman, man in (("close-up of a woman in the morning", "close-up of a man in the morning"),
                       ("早晨，女人特写", "早晨，男人特写")):
        changed = np.abs(frame(woman) - frame(man)).max(axis=2) > 24
        assert changed.mean() > 0.01, woman


STORYBOARD_ZH = ["夜晚，雨中的城市街道，一个女人撑着伞走过。",
                 "清晨，雪山下的森林，一只熊猫在吃竹子。",
                 "中午，沙漠里的公路，一辆汽车驶向远方。",
                 "室内，厨房里，两个男人在桌子上打牌，台灯亮着。"]


def test_four_chinese_storyboards_give_four_different_scenes():
    scenes = [analyse(p) for p in STORYBOARD_ZH]
    settings = {(s.time, frozenset(s.tags & {"city", "forest", "desert", "interior", "water", "mountain"}))
                for s in scenes}
    assert len(settings) == 4, settings
    assert not any(s.time == "dusk" and s.has("water") for s in scenes)  # the old fallback seascape
    expanded = [analyse(expand(p, seed=7, detail="rich")[0]) for p in STORYBOARD_ZH]  # as the storyboard runs
    assert len({(s.time, frozenset(s.tags)) for s in expanded}) == 4
    frames = [np.asarray(kf.draft_keyframe(p, "", 7, 320, 180, tag=None, aspect="16:9", caption=False), dtype=float)
              for p in STORYBOARD_ZH]
    means = [f.mean(axis=(0, 1)) for f in frames]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(means[i] - means[j]).max() > 8, (STORYBOARD_ZH[i], STORYBOARD_ZH[j])


PAIRS = [("A rainy street in the city at night", "夜晚，下雨的城市街道"),
         ("Dawn over the mountains, fog in the valley", "黎明，群山之上，山谷里有雾"),
         ("Sunset on the beach, waves", "海滩上的日落，海浪"),
         ("Inside the kitchen at noon", "中午，厨房里面"),
         ("A forest in winter snow, wide shot", "冬天雪中的森林，远景"),
         ("Two women walk in the desert, low angle", "两个女人走在沙漠里，仰拍"),
         ("A storm over the sea, lightning", "海上的暴风雨，闪电"),
         ("A lighthouse at dusk, aerial view", "黄昏的灯塔，航拍"),
         ("Stars in space, a planet", "太空中的星星，一颗行星"),
         ("A knight rides a horse on the road", "骑士在路上骑马"),
         ("Red flowers in a garden, close-up", "花园里红色的花，特写")]


@pytest.mark.parametrize("en,zh", PAIRS)
def test_chinese_and_english_with_the_same_meaning_pick_the_same_scene(en, zh):
    a, b = analyse(en), analyse(zh)
    a.tags -= {"person", "people"}  # English says "women" (people), Chinese "两个女人" (two woman): both count 2
    b.tags -= {"person", "people"}
    assert (a.tags, a.time, a.framing, a.angle, a.people, a.animal, a.riding, a.colours) == \
           (b.tags, b.time, b.framing, b.angle, b.people, b.animal, b.riding, b.colours)


def test_traditional_chinese_reads_like_simplified():
    trad = analyse("夜晚，雨中的城市街道，一隻貓和一列火車，燈光")
    simp = analyse("夜晚，雨中的城市街道，一只猫和一列火车，灯光")
    assert (trad.tags, trad.time, trad.animal) == (simp.tags, simp.time, simp.animal)
    assert trad.animal == "cat" and trad.has("train") and trad.has("lamp")
    assert analyse("熊貓").has("panda") and analyse("鳥瞰").angle == "high"


def test_the_bilingual_vocabulary_covers_every_english_tag():
    english = {w for words in ZH_WORDS.values() for w in words.split()}
    missing = [tag for tag, words in _TAGS.items() if not english & set(words)]
    assert not missing, f"no Chinese word reads as {missing}"


def test_the_bilingual_vocabulary_covers_every_choice_of_the_prompt_expander():
    from reelgraph.nodes.story import _expand as e
    english = set(ZH_WORDS.values())
    rows = [pattern for table in (e._TIME, e._WEATHER, e._SOURCE, e._SPACE, e._SIZES, e._MOODS)
            for pattern, _ in table] + [e._PAINTERLY, e._PHOTO, e._PEOPLE]
    missing = [p for p in rows if not any(e._find(p, w) for w in english)]
    assert not missing, f"no Chinese word reads as {missing}"


def test_a_chinese_style_picks_the_same_negative_prompt_as_english():
    assert expand("一只猫", seed=1, style="水彩")[1] == expand("a cat", seed=1, style="watercolour")[1]


def test_longer_words_win_over_the_characters_in_them():
    assert segment("熊猫") == ["熊猫"]  # a panda, not a bear and a cat
    assert analyse("火车").has("train") and not analyse("火车").has("fire")
    assert analyse("马路上").has("road") and analyse("马路上").animal is None
    assert analyse("马上出发").animal is None  # "at once", not a horse
    assert analyse("猫头鹰").has("bird") and analyse("猫头鹰").animal is None


def test_chinese_character_notes_are_no_scenery():
    s = analyse("玛拉: 年老的灯塔看守人，黄色外套。她在厨房里。")
    assert s.has("interior") and not s.has("lighthouse") and s.people == 1


def test_latin_prompts_read_as_before():
    text = "Mara walks on the beach at dawn"
    assert gloss(text) == text


def test_same_chinese_prompt_and_seed_give_the_same_pixels():
    a = kf.draft_keyframe(STORYBOARD_ZH[1], "", 3, 320, 180, tag="1", aspect="16:9")
    b = kf.draft_keyframe(STORYBOARD_ZH[1], "", 3, 320, 180, tag="1", aspect="16:9")
    assert a.tobytes() == b.tobytes()


def test_the_expander_reads_chinese_light_and_framing():
    prompt, _ = expand("夜晚，雨中的街道，女人特写", seed=1, detail="medium")
    assert "night" in prompt.lower() and "rain" in prompt.lower() and "close-up" in prompt.lower()


def test_chinese_camera_moves_and_transitions():
    assert _vocab.camera("推镜头") == "push_in" and _vocab.camera("左摇") == "pan_left"
    assert _vocab.transition("叠化") == "crossfade" and _vocab.transition("黑场") == "fade_black"
    assert _vocab.camera_in_text("她站在窗前，镜头缓慢推镜头到脸上") == "push_in"
