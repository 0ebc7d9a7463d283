"""Reading a prompt for the draft keyframe: which setting, light, weather, subjects and framing it names.

Pure keyword matching (no models): enough for an animatic frame a storyboard artist recognises.
Words in the negative prompt remove what they name ("no people" -> ``people`` in the negative).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# word -> tag. Plurals are matched by stripping a trailing "s"/"es" (see _words).
_TAGS: dict[str, tuple[str, ...]] = {
    # light / time of day
    "time:dawn": ("dawn", "sunrise", "daybreak", "morning"),
    "time:day": ("day", "daylight", "noon", "midday", "sunny", "sunlit", "afternoon", "bright", "clear"),
    "time:dusk": ("dusk", "sunset", "twilight", "evening", "sundown", "golden"),
    "time:night": ("night", "midnight", "nighttime", "moon", "moonlight", "moonlit", "dark", "darkness",
                   "neon", "nocturnal"),
    # weather
    "rain": ("rain", "rainy", "raining", "drizzle", "downpour", "streaking", "wet"),
    "storm": ("storm", "stormy", "thunder", "lightning", "tempest", "gale"),
    "snow": ("snow", "snowy", "snowing", "blizzard", "winter", "frost", "icy", "ice"),
    "snowfall": ("snowing", "blizzard", "snowfall", "snowflake", "snowflakes", "flurries", "falling"),
    "fog": ("fog", "foggy", "mist", "misty", "haze", "hazy", "smoke"),
    "cloud": ("cloud", "cloudy", "overcast", "grey", "gray"),
    # settings
    "interior": ("room", "kitchen", "bedroom", "office", "interior", "inside", "indoors", "hall", "hallway",
                 "corridor", "bar", "cafe", "café", "restaurant", "library", "studio", "lab",
                 "laboratory", "classroom", "attic", "cabin", "stairs", "staircase", "apartment",
                 "living", "bathroom", "shop", "store", "museum", "church", "temple", "cellar",
                 "basement", "garage", "warehouse", "theater", "theatre", "diner", "window", "indoor"),
    "forest": ("forest", "wood", "woods", "woodland", "jungle", "pine", "pines", "grove", "trees"),
    "tree": ("tree", "oak", "willow", "orchard", "park", "garden"),
    "city": ("city", "cities", "street", "town", "skyline", "building", "buildings", "skyscraper",
             "downtown", "alley", "rooftop", "village", "urban", "avenue", "metropolis"),
    "water": ("sea", "ocean", "lake", "river", "wave", "waves", "beach", "shore", "harbour", "harbor",
              "bay", "coast", "surf", "pier", "water", "boat", "ship", "sailboat", "island"),
    "beach": ("beach", "sand", "sandy", "shore", "dune"),
    "mountain": ("mountain", "mountains", "peak", "peaks", "hill", "hills", "cliff", "cliffs", "valley",
                 "ridge", "canyon", "alps", "volcano"),
    "desert": ("desert", "dune", "dunes", "sahara", "wasteland"),
    "field": ("field", "meadow", "grass", "prairie", "farm", "plain", "plains", "countryside"),
    "road": ("road", "highway", "path", "street", "track", "railway", "trail", "lane", "bridge"),
    "space": ("space", "galaxy", "planet", "nebula", "cosmos", "starship", "astronaut", "asteroid"),
    "stars": ("star", "stars", "starry", "milky"),
    "lighthouse": ("lighthouse", "beacon", "beam"),
    "fire": ("fire", "campfire", "flame", "flames", "bonfire", "explosion", "burning", "ablaze", "fireplace"),
    "lamp": ("lantern", "lamp", "candle", "candles", "torch", "torchlight", "candlelight", "flashlight"),
    # subjects
    "person": ("man", "woman", "girl", "boy", "child", "kid", "person", "figure", "he", "she", "hero",
               "heroine", "detective", "soldier", "knight", "king", "queen", "keeper", "stranger",
               "traveller", "traveler", "mother", "father", "friend", "doctor", "pilot", "driver",
               "character", "wizard", "witch", "girlfriend", "boyfriend", "lady", "gentleman", "guard",
               "runner", "dancer", "singer", "astronaut", "captain", "sailor", "farmer", "student",
               "teacher", "officer", "thief", "hunter", "warrior", "robot", "monk", "priest", "nurse",
               "rider", "horseman", "cowboy", "cowgirl", "jockey", "climber", "hiker", "fisherman", "sheriff"),
    "people": ("people", "crowd", "couple", "family", "friends", "together", "group", "team", "both",
               "they", "pair", "men", "women", "children", "kids", "soldiers", "everyone"),
    "animal": ("fox", "dog", "cat", "wolf", "horse", "deer", "bear", "cow", "lion", "tiger", "rabbit",
               "hare", "puppy", "kitten", "sheep", "goat", "elk", "moose"),
    "bird": ("bird", "birds", "crow", "raven", "eagle", "gull", "seagull", "owl", "hawk", "flock", "dove"),
    "car": ("car", "cars", "taxi", "truck", "van", "jeep", "bus", "motorcycle", "vehicle"),
    "boat": ("boat", "ship", "sailboat", "yacht", "canoe", "ferry", "raft", "oars", "rowboat", "vessel"),
    # framing and angle
    "frame:close": ("closeup", "close", "portrait", "face", "eyes", "macro", "detail"),
    "frame:medium": ("medium", "waist", "mid"),
    "frame:wide": ("wide", "establishing", "panorama", "panoramic", "vista", "landscape", "aerial",
                   "distant", "far", "overview", "vast"),
    "angle:low": ("low", "towering", "worm"),
    "angle:high": ("high", "aerial", "overhead", "drone", "birdseye"),
}

_WORD_TAGS: dict[str, list[str]] = {}
for _tag, _words_ in _TAGS.items():
    for _w in _words_:
        _WORD_TAGS.setdefault(_w, []).append(_tag)

# colour words -> (hue 0..1, saturation, value)
COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (0.0, 0.8, 0.85), "crimson": (0.97, 0.85, 0.75), "scarlet": (0.99, 0.85, 0.9),
    "orange": (0.07, 0.85, 0.95), "amber": (0.1, 0.85, 0.95), "gold": (0.12, 0.75, 0.95),
    "golden": (0.11, 0.7, 0.95), "yellow": (0.15, 0.8, 0.95), "green": (0.33, 0.65, 0.7),
    "emerald": (0.4, 0.7, 0.7), "teal": (0.49, 0.7, 0.7), "cyan": (0.52, 0.7, 0.9),
    "turquoise": (0.47, 0.65, 0.85), "blue": (0.6, 0.7, 0.85), "azure": (0.57, 0.6, 0.95),
    "navy": (0.63, 0.8, 0.45), "indigo": (0.7, 0.7, 0.6), "violet": (0.76, 0.6, 0.8),
    "purple": (0.79, 0.65, 0.7), "magenta": (0.86, 0.75, 0.85), "pink": (0.93, 0.45, 0.95),
    "rose": (0.95, 0.5, 0.9), "neon": (0.85, 0.9, 1.0), "silver": (0.6, 0.08, 0.85),
    "white": (0.6, 0.04, 0.97), "brown": (0.07, 0.6, 0.5), "sepia": (0.09, 0.45, 0.65),
    "autumn": (0.07, 0.8, 0.85), "autumnal": (0.07, 0.8, 0.85), "fall": (0.08, 0.75, 0.85),
    "spring": (0.93, 0.35, 0.95), "copper": (0.06, 0.7, 0.75), "ochre": (0.11, 0.75, 0.8),
}

_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "both": 2, "couple": 2, "pair": 2, "and": 0}


@dataclass
class Scene:
    """What the prompt names, as tags, plus the counts and colours the drawing needs."""

    tags: set[str] = field(default_factory=set)
    time: str | None = None  # dawn, day, dusk, night (None: the seed picks the palette)
    framing: str = "default"  # close, medium, wide, default
    angle: str = "eye"  # low, high, eye
    people: int = 0
    animal: str | None = None
    riding: bool = False  # a person on the animal ("a knight rides a horse")
    colours: list[tuple[float, float, float]] = field(default_factory=list)

    def has(self, tag: str) -> bool:
        return tag in self.tags


_PHRASES = [  # camera and lens jargon that would read as scenery, and framing written in two words
    (r"close[- ]up", "closeup"), (r"bird'?s[- ]eye", "birdseye"), (r"medium[- ]closeup", "closeup"),
    (r"medium[- ]wide|medium[- ]long|medium[- ]full", "mediumwide"), (r"depth of field", " "),
    (r"\b(slow|smooth|fast|quick)?\s*(orbit|dolly|pan|tilt|push[- ]in|pull[- ]out|pull[- ]back|tracking)\b[^,.;]*",
     " "),
]


def _words(text: str) -> list[str]:
    text = text.lower()
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, repl, text)
    return re.findall(r"[a-zà-ÿ']+", text)


# "Mara: an old lighthouse keeper, yellow coat." describes a character: its words are no scenery
_CHARACTER_NOTE = re.compile(r"\b[A-Z][\w'-]*:\s[^.\n]*[.\n]?")


def _tags_of(word: str) -> list[str]:
    for w in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if w and w in _WORD_TAGS:
            return _WORD_TAGS[w]
    return []


_COMMON = {"the", "a", "an", "and", "in", "on", "at", "of", "with", "by", "from", "to", "into", "under",
           "over", "as", "this", "that", "then", "every", "some", "one", "inside", "outside", "later",
           "meanwhile", "suddenly", "cinematic", "shot", "scene", "view", "style", "soft", "moody",
           "photo", "film", "painting", "illustration", "interior", "exterior", "ext", "int", "note", "notes",
           "camera", "lighting", "light", "mood", "lens", "setting", "location", "action", "dialogue",
           "narration", "caption", "characters", "character", "negative", "prompt", "title", "duration",
           "transition", "voice", "music", "sound", "palette", "colours", "colors", "look", "tone"}

_AFTER_NAME = {"in", "at", "on", "with", "is", "was", "and", "looks", "stands", "sits", "runs", "walks",
               "holds", "turns", "climbs", "rows", "smiles", "says", "watches", "waits", "who"}


def _names(text: str) -> set[str]:
    """Character names: capitalised words that are no known word, mid-sentence or before a verb."""
    found: set[str] = set()
    tokens = re.findall(r"[A-Za-z']+|[.!?:;\n]", text)
    for i, tok in enumerate(tokens):
        if not tok[:1].isupper() or not tok[1:].islower() or len(tok) < 3:
            continue
        low = tok.lower()
        if low in _COMMON or low in _WORD_TAGS or low in COLOUR_WORDS or _tags_of(low):
            continue
        sentence_start = i == 0 or tokens[i - 1] in ".!?:;\n"
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        after = tokens[i + 2] if i + 2 < len(tokens) else ""
        if (not sentence_start or (nxt.islower() and nxt.endswith("s") and len(nxt) > 3)
                or nxt in _AFTER_NAME or nxt == ":" or (nxt == "and" and after[:1].isupper())):
            found.add(tok)
    return found


def analyse(prompt: str, negative: str = "") -> Scene:
    words = _words(_CHARACTER_NOTE.sub(" ", prompt or ""))
    tags: set[str] = set()
    order: list[str] = []
    for w in words:
        for tag in _tags_of(w):
            if tag not in tags:
                order.append(tag)
            tags.add(tag)
    words_all = _words(prompt or "")  # colours and people also come from the character notes
    for w in _words(negative or ""):
        for tag in _tags_of(w):
            tags.discard(tag)
            if tag == "person" or tag == "people":
                tags.discard("person")
                tags.discard("people")

    scene = Scene(tags=tags)
    times = [t.split(":")[1] for t in order if t.startswith("time:") and t in tags]
    if times:
        # "at dusk ... moon" : the first named light wins, except that night words beat day words
        scene.time = "night" if "night" in times and times[0] == "day" else times[0]
    frames = [t.split(":")[1] for t in order if t.startswith("frame:") and t in tags]
    scene.framing = frames[0] if frames else "default"
    angles = [t.split(":")[1] for t in order if t.startswith("angle:") and t in tags]
    scene.angle = angles[0] if angles else "eye"

    # how many people: "two women", "Mara and Finn", "a crowd"
    names = _names(prompt or "")
    if names:
        tags.add("person")
    if "people" in tags or "person" in tags:
        n = max(1, min(len(names), 3))
        for i, w in enumerate(words[:-1]):
            if _NUMBERS.get(w) and {"person", "people"} & set(_tags_of(words[i + 1])):
                n = max(n, _NUMBERS[w])
        if "people" in tags:
            n = max(n, 2)
        if any(w in ("crowd", "group", "team", "everyone") for w in words):
            n = 5
        scene.people = min(n, 5)
    if "animal" in tags:
        for w in words:
            for base in (w, w[:-1], w[:-2]):
                if "animal" in _WORD_TAGS.get(base, ()):
                    scene.animal = base
                    break
            if scene.animal:
                break
    if "horseback" in words or "horsemen" in words:
        tags.add("animal")
        scene.animal = "horse"
    scene.riding = bool(scene.animal and scene.people and
                        {"ride", "rides", "riding", "rider", "riders", "horseback", "mounted", "saddle"} & set(words))
    for w in words_all:
        if w in COLOUR_WORDS:
            scene.colours.append(COLOUR_WORDS[w])
    return scene
