"""The draft prompt expander (private to story.expand_prompt): rules and templates, no model.

A short shot description becomes a detailed cinematic prompt: subject, each character's sheet
description verbatim, shot size and lens, the camera move in words, lighting and (rich) mood and
composition, the style; plus a negative prompt. Vocabulary is chosen from keywords in the text
(dusk, night, rain, interior, close...); where the text says nothing the choice is a stable
function of the seed, so the same shot always expands the same way.
"""

from __future__ import annotations

import re
from typing import Mapping

from reelgraph.nodes.common.draw import stable_int
from reelgraph.nodes.image._scene import gloss  # the draft's bilingual vocabulary: one list for both readers

DETAILS = ("short", "medium", "rich")

# (pattern, phrase) in priority order inside each group; {w} is the matched word.
_TIME = [
    (r"midnight|night\w*|moon\w*|stars?|starry|starlit", "night, cool moonlight and deep blue shadows"),
    (r"dusk|sunset|twilight|evening|golden hour", "dusk, low golden-hour sun fading into blue"),
    (r"dawn|sunrise|daybreak|morning|first light", "early morning, soft pastel dawn light"),
    (r"noon|midday|sunny|sunlit|sunshine|summer|desert|beach", "bright daylight, crisp defined shadows"),
]
_WEATHER = [
    (r"rain\w*|storm\w*|thunder\w*|lightning|downpour|drizzle|wet", "rain-streaked air, wet reflective "
                                                                    "surfaces, diffused stormy light"),
    (r"snow\w*|blizzard|frost\w*|frozen|ice|winter|icy", "wintry cold, soft diffused light"),
    (r"fog\w*|mist\w*|haze|hazy|smoke", "drifting haze, soft atmospheric depth"),
]
_SOURCE = [
    (r"candles?|lanterns?|lamps?|torch(?:es)?|fireplace|hearth|campfire|fire|embers",
     "warm flickering glow from the {w}"),
    (r"neon|city lights", "neon signs casting coloured light"),
    (r"screens?|monitors?", "cool glow of the {w} on faces"),
]
_SPACE = [
    (r"inside|interior|indoors?|rooms?|kitchen|hall(?:way)?|corridor|stairs|staircase|stairwell|house|"
     r"cottage|cabin|office|bedroom|attic|church|library|bar|cafe|window",
     "interior, motivated light from windows and practical lamps"),
    (r"forest|woods|trees|jungle", "dappled light through the canopy"),
    (r"sea|ocean|waves|shore|harbou?r|lake|river", "shimmering light reflected off the water"),
]
_NEUTRAL_LIGHT = ("soft overcast daylight", "gentle natural side light", "warm late-afternoon light",
                  "cool even morning light")

_SIZES = [
    (r"extreme close(?:-?up)?|macro", "extreme close-up, 100mm macro lens, razor-thin depth of field"),
    (r"close(?:-?up)?|closeup|face|faces|eyes|hands|portrait|detail of", "close-up, 85mm lens, shallow "
                                                                        "depth of field"),
    (r"medium|mid shot|waist", "medium shot, 50mm lens"),
    (r"aerial|bird'?s[- ]eye|drone", "aerial view, wide lens, high vantage point"),
    (r"wide|establishing|landscape|vista|panorama|skyline|view of|horizon", "wide establishing shot, "
                                                                            "24mm lens, deep focus"),
]
_NEUTRAL_SIZE = ("medium shot, 35mm lens", "medium-wide shot, 28mm lens",
                 "medium close-up, 50mm lens, soft background")

CAMERA_WORDS = {
    "static": "locked-off camera, still frame",
    "push_in": "slow dolly push-in toward the subject",
    "pull_out": "slow dolly pull-back revealing the surroundings",
    "pan_left": "smooth pan from right to left",
    "pan_right": "smooth pan from left to right",
    "tilt_up": "slow tilt up",
    "tilt_down": "slow tilt down",
    "orbit_left": "slow orbit around the subject, circling left",
    "orbit_right": "slow orbit around the subject, circling right",
}

_MOODS = [
    (r"storm\w*|fear\w*|afraid|alone|lonely|empty|lost|grief|dark|abandoned|cold",
     "brooding, melancholic mood"),
    (r"laugh\w*|smil\w*|joy\w*|play\w*|celebrat\w*|happy|dance\w*", "warm, joyful mood"),
    (r"run|runs|running|chas\w*|fight\w*|escap\w*|explo\w*|races?|racing|flee\w*", "urgent, kinetic energy"),
    (r"watch\w*|wait\w*|remember\w*|quiet|silen\w*|still", "quiet, contemplative mood"),
]
_NEUTRAL_MOOD = ("quiet, contemplative mood", "gentle, hopeful mood", "calm, observational tone")
_COMPOSITION = ("rule-of-thirds composition", "strong leading lines", "layered foreground and background",
                "balanced symmetrical framing")

_PAINTERLY = r"watercolou?r|paint\w*|illustrat\w*|anime|cartoon|sketch\w*|ink|gouache|pastel|comic|" \
             r"storybook|cel[- ]shaded|pixel"
_PHOTO = r"photo\w*|realistic|photoreal\w*|35mm film|film still|documentary|live action"
_PEOPLE = r"man|men|woman|women|boy|girl|child\w*|kids?|people|person|crowd|he|she|they|his|her|face|hands"


def _find(pattern: str, text: str) -> re.Match | None:
    return re.search(rf"(?<![\w-])(?:{pattern})(?![\w-])", text, re.I)


def _first(table, text: str) -> str | None:
    for pattern, phrase in table:
        m = _find(pattern, text)
        if m:
            return phrase.format(w=m.group(0).lower())
    return None


def _pick(options, seed: int, salt: str) -> str:
    return options[stable_int("story.expand", salt, seed) % len(options)]


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def expand(text: str, *, seed: int, detail: str = "medium", camera: str | None = None,
           characters: Mapping[str, str] | None = None, style: str = "",
           negative: str = "") -> tuple[str, str]:
    """(prompt, negative prompt) for a short shot description."""
    characters = dict(characters or {})
    seen = gloss(text)  # what the keywords are looked for in: Chinese is read into the English words below

    lighting = [p for p in (_first(_TIME, seen), _first(_WEATHER, seen), _first(_SOURCE, seen),
                            _first(_SPACE, seen)) if p]
    if not lighting:
        lighting = [_pick(_NEUTRAL_LIGHT, seed, "light")]
    lighting = lighting[:{"short": 1, "medium": 2, "rich": 3}[detail]]
    size = _first(_SIZES, seen) or _pick(_NEUTRAL_SIZE, seed, "size")

    parts = [_sentence(text)]
    for name, description in characters.items():  # verbatim, so every shot describes them alike
        description = description.strip()
        parts.append(f"{name}: {description}" + ("" if description[-1:] in ".!?" else "."))
    framing = [size]
    if camera:
        framing.append(CAMERA_WORDS.get(camera, camera.replace("_", " ")))
    if detail == "rich":
        framing.append(_pick(_COMPOSITION, seed, "composition"))
    parts.append(_sentence(", ".join(framing)))
    if detail != "short":
        parts.append(_sentence(", ".join(lighting)))
        if detail == "rich":
            parts.append(_sentence(_first(_MOODS, seen) or _pick(_NEUTRAL_MOOD, seed, "mood")))
    else:
        parts.append(_sentence(lighting[0]))
    look = ", ".join(s for s in (style.strip().rstrip(".,"),) if s)
    if detail == "short":
        parts.append(_sentence(look or "cinematic"))
    elif detail == "medium":
        parts.append(_sentence(", ".join(s for s in (look, "cinematic composition, detailed") if s)))
    else:
        if look:
            parts.append(_sentence(look))
        parts.append("Cinematic film still, highly detailed, natural colour grading, subtle film grain, "
                     "sharp focus.")
    prompt = " ".join(p for p in parts if p)

    neg = ["blurry", "low quality", "watermark", "text", "logo"]
    if detail != "short":
        neg += ["lowres", "jpeg artifacts", "signature", "out of frame"]
    if characters or _find(_PEOPLE, seen):
        neg += ["distorted anatomy", "deformed hands", "extra limbs", "extra fingers"]
    if characters:
        neg += ["inconsistent character design", "changing outfit", "duplicate characters"]
    if _find(_PAINTERLY, gloss(style)):
        neg += ["photorealistic", "3d render", "photograph"]
    elif _find(_PHOTO, gloss(style)):
        neg += ["cartoon", "illustration", "painting", "cgi"]
    if _find(_TIME[0][0], seen):
        neg.append("overexposed")
    if detail == "rich":
        neg += ["oversaturated", "flat lighting", "bad composition", "cropped"]
    neg += [n.strip() for n in re.split(r"[,;]", negative) if n.strip()]
    unique = list(dict.fromkeys(n.lower() for n in neg))
    return prompt, ", ".join(unique)
