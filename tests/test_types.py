"""Port types: the wiring rules (link_mode), parsing, value checks, encoding and content digests."""

from __future__ import annotations

import json
import math
import sys

import pytest
from reelgraph.graph import types as t
from reelgraph.graph.types import (
    Any,
    Audio,
    Bool,
    Choice,
    Float,
    Image,
    Int,
    List,
    MediaRef,
    Shot,
    ShotValue,
    T,
    Text,
    Video,
    check_value,
    decode,
    digest,
    encode,
    link_mode,
    parse_type,
)

SCALARS = [Text, Int, Float, Bool, Choice, Image, Video, Audio, Shot]


def ref(kind="image", digest_="ab" * 32, ext=".png", size=10, path="", **meta) -> MediaRef:
    return MediaRef(kind, digest_, ext, size, path=path, meta=meta)


# ----------------------------------------------------------------------------------------------
# link_mode


@pytest.mark.parametrize("typ", SCALARS + [List[Text], List[List[Int]], List[Image]])
def test_same_type_is_direct(typ):
    assert link_mode(typ, typ) == "direct"


@pytest.mark.parametrize("src, dst", [(Int, Float), (Int, Text), (Float, Text), (Bool, Text),
                                      (Choice, Text), (Text, Choice)])
def test_allowed_coercions_are_direct(src, dst):
    assert link_mode(src, dst) == "direct"


@pytest.mark.parametrize("src, dst", [(Float, Int), (Text, Int), (Text, Float), (Text, Bool),
                                      (Int, Bool), (Bool, Int), (Image, Video), (Video, Image),
                                      (Audio, Video), (Image, Text), (Shot, Text), (Text, Shot),
                                      (Text, Image), (Int, Choice)])
def test_mismatches_do_not_link(src, dst):
    assert link_mode(src, dst) is None


@pytest.mark.parametrize("item", SCALARS)
def test_a_list_maps_over_an_input_of_its_item_type(item):
    assert link_mode(List[item], item) == "map"


def test_mapping_applies_coercions_per_element():
    assert link_mode(List[Int], Float) == "map"
    assert link_mode(List[Int], Text) == "map"
    assert link_mode(List[Text], Int) is None


def test_lists_of_fitting_items_link_directly():
    assert link_mode(List[Int], List[Float]) == "direct"
    assert link_mode(List[Float], List[Int]) is None
    assert link_mode(List[Text], List[Image]) is None


def test_a_scalar_never_feeds_a_list_input():
    assert link_mode(Text, List[Text]) is None
    assert link_mode(Image, List[Image]) is None


def test_mapping_goes_one_level_only():
    assert link_mode(List[List[Int]], Int) is None
    assert link_mode(List[List[Int]], List[Int]) == "map"


def test_no_mapping_when_a_direct_fit_exists():
    # Any, a type variable or a matching list type take the list whole.
    assert link_mode(List[Text], Any) == "direct"
    assert link_mode(List[Text], T) == "direct"
    assert link_mode(List[Text], List[Any]) == "direct"
    assert link_mode(List[Text], List[T]) == "direct"
    assert link_mode(List[List[Text]], List[List[Text]]) == "direct"


def test_any_and_type_variables_fit_everything():
    for typ in SCALARS + [List[Int]]:
        assert link_mode(typ, Any) == "direct"
        assert link_mode(Any, typ) == "direct"
        assert link_mode(typ, T) == "direct"
        assert link_mode(T, typ) == "direct"


def test_bind_and_substitute_type_variables():
    bindings: dict = {}
    t.bind(List[T], List[Text], bindings)
    assert bindings == {"T": Text}
    t.bind(T, Int, bindings)  # the first binding wins
    assert bindings == {"T": Text}
    assert t.substitute(T, bindings) == Text
    assert t.substitute(List[T], bindings) == List[Text]
    assert t.substitute(List[T], {}) == List[Any]  # unbound: Any
    assert t.substitute(Int, bindings) == Int
    nested: dict = {}
    t.bind(List[T], List[List[Image]], nested)
    assert nested == {"T": List[Image]}
    t.bind(List[T], Text, (unbound := {}))  # a scalar wired into List[T] binds nothing
    assert unbound == {}


# ----------------------------------------------------------------------------------------------
# Types themselves, parse_type


def test_list_types_are_shared_and_compare_by_item():
    assert List[Text] is List[Text] and List(Text) is List[Text]
    assert List[Text] == List[Text] and List[Text] != List[Int]
    assert List[Text] != Text and Text != List[Text]
    assert List[Text].is_list and not Text.is_list
    assert List[Text].item is Text
    assert str(List[List[Video]]) == "List[List[Video]]"
    assert repr(List[Int]) == "List[Int]"
    assert {List[Text]: 1}[List(Text)] == 1  # hashable, usable as a key


def test_media_kinds():
    assert Image.is_media and Video.is_media and Audio.is_media
    assert not Text.is_media and not Shot.is_media and not List[Image].is_media


def test_bad_type_arguments():
    with pytest.raises(TypeError, match="takes a port type"):
        List["Text"]
    with pytest.raises(TypeError, match="takes no type argument"):
        Text[Int]


@pytest.mark.parametrize("typ", SCALARS + [Any, T, List[Text], List[List[Int]], List[T], List[List[List[Shot]]]])
def test_parse_type_round_trip(typ):
    assert parse_type(str(typ)) == typ
    assert parse_type(str(typ)) is typ or not typ.is_list or parse_type(str(typ)) is List[typ.item]


def test_parse_type_tolerates_spaces():
    assert parse_type("  List[ Text ] ") is List[Text]


@pytest.mark.parametrize("bad", ["text", "Str", "List[]", "List[Foo]", "List(Text)", "", "List[Text"])
def test_parse_type_unknown_names_the_known_types(bad):
    with pytest.raises(ValueError, match=r"unknown port type .*known: Text, Int, Float.* and List\[T\]"):
        parse_type(bad)


# ----------------------------------------------------------------------------------------------
# check_value


@pytest.mark.parametrize("typ, value, expected", [
    (Text, "hi", "hi"), (Text, 3, "3"), (Text, 2.5, "2.5"), (Text, True, "True"),
    (Choice, "a", "a"),
    (Int, 3, 3), (Int, 3.0, 3), (Int, -0.0, 0),
    (Float, 2, 2.0), (Float, 2.5, 2.5),
    (Bool, True, True), (Bool, False, False),
    (List[Int], [1, 2.0], [1, 2]), (List[Int], (1, 2), [1, 2]), (List[Text], [], []),
    (List[List[Float]], [[1], [2, 3]], [[1.0], [2.0, 3.0]]),
    (Any, {"x": object}, {"x": object}), (T, None, None),
])
def test_check_value_accepts_and_converts(typ, value, expected):
    out = check_value(typ, value)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("typ, value, fragment", [
    (Text, None, "expected Text, got NoneType None"), (Text, [1], "expected Text"),
    (Choice, 3, "expected Choice, got int 3"),
    (Int, 2.5, "expected Int, got float 2.5"), (Int, True, "expected Int, got bool True"),
    (Int, "3", "expected Int, got str '3'"), (Int, math.inf, "expected Int"), (Int, math.nan, "expected Int"),
    (Float, "1.5", "expected Float"), (Float, False, "expected Float"),
    (Float, math.inf, "finite"), (Float, math.nan, "finite"),
    (Float, 10 ** 400, "too large"),  # used to raise OverflowError
    (Bool, 1, "expected Bool, got int 1"), (Bool, "true", "expected Bool"),
    (List[Int], 3, "expected a list (List[Int]), got int 3"), (List[Int], "abc", "expected a list"),
    (List[Int], [1, "x"], "expected Int, got str 'x'"),
    (Shot, "a shot", "expected Shot"), (Shot, {"duration": 1}, "expected Shot"),
    (Shot, {"prompt": "x", "bogus": 1}, "malformed shot"),  # used to raise TypeError
    (Image, "pic.png", "expected Image, got str"),
    (Image, MediaRef("video", "d", ".mp4", 1), "expected Image, got Video media"),
    (Video, None, "expected Video"),
])
def test_check_value_rejects_with_a_clear_message(typ, value, fragment):
    with pytest.raises(ValueError) as ei:
        check_value(typ, value)
    assert fragment in str(ei.value)


def test_check_value_describes_long_values_briefly():
    with pytest.raises(ValueError) as ei:
        check_value(Int, "x" * 1000)
    assert len(str(ei.value)) < 80 and "..." in str(ei.value)


def test_check_value_of_deeply_nested_junk_does_not_hit_the_recursion_limit():
    deep: list = []
    for _ in range(sys.getrecursionlimit() * 3):
        deep = [deep]
    for typ in (Text, Int, Bool, List[Int], Shot, Image):
        with pytest.raises(ValueError):
            check_value(typ, deep)


def test_check_value_of_a_huge_int_for_text():
    with pytest.raises(ValueError):  # beyond Python's int-to-str limit: still a ValueError
        check_value(Bool, 10 ** 5000)


def test_check_value_shots():
    shot = check_value(Shot, {"prompt": "a fox", "duration": 2.5, "characters": ["fox"]})
    assert shot == ShotValue(index=0, prompt="a fox", duration=2.5, characters=("fox",))
    same = ShotValue(3, "x")
    assert check_value(Shot, same) is same
    assert check_value(List[Shot], [{"prompt": "a"}, same]) == [ShotValue(0, "a"), same]


def test_check_value_media():
    img = ref()
    assert check_value(Image, img) is img
    assert check_value(List[Image], [img]) == [img]
    assert check_value(Any, img) is img


# ----------------------------------------------------------------------------------------------
# MediaRef, ShotValue


def test_media_ref_identity_is_its_content():
    a = ref(path="/one/a.png", width=4)
    b = ref(path="/two/b.png", width=8)
    assert a == b  # path and meta do not take part in equality
    assert a != ref(digest_="cd" * 32)
    assert a.width == 4 and a.type == Image and MediaRef("audio", "d", ".wav", 1).type == Audio
    with pytest.raises(AttributeError, match="no attribute or metadata 'fps'"):
        _ = a.fps
    with pytest.raises(ValueError, match="media kind must be one of"):
        MediaRef("pixels", "d", ".png", 1)


def test_shot_value_dict_round_trip_and_replace():
    shot = ShotValue(2, "a fox", 3.0, "pan", "fade", "narr", 7, ("fox", "hare"), "noir", {"k": 1})
    d = shot.to_dict()
    assert d["characters"] == ["fox", "hare"] and d["extra"] == {"k": 1}
    json.dumps(d)
    assert ShotValue.from_dict(d) == shot
    assert shot.replace(prompt="b").prompt == "b" and shot.prompt == "a fox"


# ----------------------------------------------------------------------------------------------
# encode / decode


VALUES = [
    None, True, False, 0, -7, 2.5, "", "text ü ✓", [1, "a", None], [[[]]],
    {"a": 1, "b": [1, 2]}, {"$media": "not a tag inside $dict"},
    ref(path="/x.png", width=3, height=4),
    MediaRef("video", "ee" * 32, ".mp4", 99, path="/v.mp4", meta={"fps": 24, "frames": 48, "duration": 2.0}),
    ShotValue(0, "a fox", characters=("fox",), extra={"lens": "35mm"}),
    [ShotValue(1, "x"), ShotValue(2, "y", seed=3)],
    {"shots": [ShotValue(1, "x")], "clip": MediaRef("audio", "aa", ".wav", 5, meta={"sample_rate": 48000})},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_encode_decode_round_trip_through_json(value):
    data = json.loads(json.dumps(encode(value)))
    back = decode(data)
    assert back == value
    if isinstance(value, MediaRef):
        assert back.path == value.path and dict(back.meta) == dict(value.meta)
    if isinstance(value, ShotValue):
        assert isinstance(back.characters, tuple)


def test_encode_tags_media_and_shots():
    assert encode(ref())["$media"]["kind"] == "image"
    assert encode(ShotValue(0, "x"))["$shot"]["prompt"] == "x"
    assert encode((1, 2)) == [1, 2]


def test_decode_can_relocate_media():
    data = encode([ref(path="/old/place.png")])
    back = decode(data, media_path=lambda r: f"/store/{r.digest[:2]}/{r.digest}{r.ext}")
    assert back[0].path == f"/store/ab/{'ab' * 32}.png"


def test_encode_rejects_what_cannot_be_stored():
    with pytest.raises(TypeError, match="cannot store a value of type object"):
        encode(object())
    with pytest.raises(TypeError, match="cannot store a value of type set"):
        encode([{1, 2}])


def test_decode_rejects_an_untagged_dict():
    with pytest.raises(ValueError, match="cannot decode stored value"):
        decode({"plain": 1})


# ----------------------------------------------------------------------------------------------
# digest


def test_digest_is_stable_across_calls_and_processes():
    value = {"b": [1, 2.5, "x"], "a": ShotValue(0, "fox"), "m": ref()}
    assert digest(value) == digest(value)
    # A fixed value must give a fixed digest: cache keys survive restarts.
    assert digest("hello") == digest("hello") and len(digest("hello")) == 64
    import subprocess

    code = ("from reelgraph.graph.types import digest, ShotValue; "
            "print(digest({'b': [1, 2.5, 'x'], 'a': ShotValue(0, 'fox')}))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == digest({"b": [1, 2.5, "x"], "a": ShotValue(0, "fox")})


@pytest.mark.parametrize("a, b", [
    ([1, 2], [1, 2]), ([1, 2], (1, 2)), ("x", "x"), (2.5, 2.5),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # key order does not matter
    (ShotValue(0, "x", characters=("a",)), ShotValue(0, "x", characters=("a",))),
    (ref(path="/a", width=1), ref(path="/b", width=2)),  # same bytes: same media
    ([ref(path="/a")], [ref(path="/b")]),
    ({"clip": ref(path="/a")}, {"clip": ref(path="/b")}),  # also inside a dict
])
def test_equal_values_have_equal_digests(a, b):
    assert digest(a) == digest(b)


@pytest.mark.parametrize("a, b", [
    (1, 2), (1, 1.0), (1, True), (0, False), (0, None), ("1", 1), ("", None), ([], ""), ([], {}),
    ([1, 2], [2, 1]), ([1, [2]], [[1], 2]), ([[]], [[], []]), (["a", "b"], ["ab"]),
    ({"a": 1}, {"a": 2}), ({"a": 1}, {"b": 1}), ({"a": "b"}, ["a", "b"]), ({"a": 1}, [["a", 1]]),
    (ShotValue(0, "x"), ShotValue(1, "x")), (ShotValue(0, "x"), {"index": 0, "prompt": "x"}),
    (ref(), ref(digest_="cd" * 32)), (ref(), "ab" * 32), (0.1 + 0.2, 0.3),
])
def test_different_values_have_different_digests(a, b):
    assert digest(a) != digest(b)


def test_digest_of_deep_nesting_does_not_hit_the_recursion_limit():
    depth = sys.getrecursionlimit() * 5
    deep_list: list = []
    deep_dict: dict = {}
    mixed: object = "leaf"
    for i in range(depth):
        deep_list = [deep_list]
        deep_dict = {"k": deep_dict}
        mixed = [mixed] if i % 2 else {"k": mixed}
    for value in (deep_list, deep_dict, mixed):
        assert len(digest(value)) == 64
    shallower: list = []
    for _ in range(depth - 1):
        shallower = [shallower]
    assert digest(deep_list) != digest(shallower)


def test_digest_of_a_long_list():
    assert digest(list(range(100_000))) != digest(list(range(99_999)))
