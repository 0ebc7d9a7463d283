"""The draft music synthesiser behind audio.music: a chord-pad bed with bass and a sparse pluck melody.

Everything is vectorised per chord segment or per note (no per-sample Python loops): oscillators
read band-limited wavetables, so there is no aliasing and no filter recursion to run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from reelgraph.nodes.common.draw import stable_int

from ._dsp import RATE, db, fade, peak_rms

# ---------------------------------------------------------------------------------------------
# The plan: what the mood words decide

MINOR_WORDS = ("sad", "dark", "tense", "melanchol", "gloom", "somber", "sombre", "ominous", "myster",
               "eerie", "horror", "suspense", "tragic", "lonely", "noir", "scary", "grim", "grief",
               "sorrow", "haunt", "menac", "brood", "minor", "cold", "danger", "threat", "moody")
SLOW_WORDS = ("calm", "slow", "sad", "peace", "ambient", "relax", "gentle", "soft", "serene",
              "tranquil", "dream", "meditat", "quiet", "lonely", "melanchol", "somber", "sombre",
              "tender", "sleep", "lullaby", "grief", "sorrow")
FAST_WORDS = ("upbeat", "energetic", "action", "fast", "driving", "epic", "exciting", "happy",
              "dance", "chase", "intense", "powerful", "uplifting", "bright", "playful", "fun",
              "heroic", "triumph", "race", "sport", "party")

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Progressions as 0-based scale degrees.
MAJOR_PROGRESSIONS = ((0, 4, 5, 3),   # I-V-vi-IV
                      (0, 5, 3, 4),   # I-vi-IV-V
                      (5, 3, 0, 4),   # vi-IV-I-V
                      (0, 3, 5, 4),   # I-IV-vi-V
                      (3, 0, 4, 5))   # IV-I-V-vi
MINOR_PROGRESSIONS = ((0, 5, 2, 6),   # i-VI-III-VII
                      (0, 3, 5, 4),   # i-iv-VI-v
                      (0, 6, 5, 6),   # i-VII-VI-VII
                      (0, 5, 3, 4),   # i-VI-iv-v
                      (0, 2, 6, 3))   # i-III-VII-iv
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NUMERALS = ("I", "II", "III", "IV", "V", "VI", "VII")


def _has(words: list[str], stems: tuple[str, ...]) -> int:
    return sum(any(w.startswith(s) for s in stems) for w in words)


@dataclass(frozen=True)
class MusicPlan:
    key: int            # pitch class of the tonic, 0 = C
    mode: str           # "major" | "minor"
    tempo: int          # beats per minute
    progression: tuple[int, ...]  # scale degrees, 0-based
    beats_per_chord: int
    energy: float       # 0 (calm) .. 1 (energetic): arpeggio density, bass pulse, brightness
    seed: int

    @property
    def chord_seconds(self) -> float:
        return self.beats_per_chord * 60.0 / self.tempo

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.key]} {self.mode}"

    @property
    def chords(self) -> str:
        """The progression in Roman numerals (upper case: major chord, lower case: minor)."""
        names = []
        for d in self.progression:
            third = (self.scale[(d + 2) % 7] - self.scale[d]) % 12
            names.append(NUMERALS[d] if third == 4 else NUMERALS[d].lower())
        return "-".join(names)

    def describe(self) -> str:
        return f"{self.key_name}, {self.tempo} bpm, {self.chords}"

    @property
    def scale(self) -> tuple[int, ...]:
        return MAJOR if self.mode == "major" else MINOR


def plan(mood: str, tempo: int, seed: int) -> MusicPlan:
    """Key, mode, tempo and progression from the mood words (and the seed, for the free choices)."""
    words = re.findall(r"[a-z]+", (mood or "").lower())
    rng = np.random.default_rng(stable_int("audio.music.plan", " ".join(words), seed))
    minor = _has(words, MINOR_WORDS) > 0
    slow, fast = _has(words, SLOW_WORDS), _has(words, FAST_WORDS)
    if fast > slow:
        lo, hi, energy = 110, 140, 0.8
    elif slow > fast:
        lo, hi, energy = 60, 80, 0.2
    else:
        lo, hi, energy = 84, 104, 0.5
    bpm = int(tempo) if tempo else int(rng.integers(lo, hi + 1))
    if tempo:  # an explicit tempo also sets how busy the parts are
        energy = float(np.clip((bpm - 70) / 60.0, 0.1, 0.9))
    progs = MINOR_PROGRESSIONS if minor else MAJOR_PROGRESSIONS
    progression = progs[int(rng.integers(len(progs)))]
    key = int(rng.integers(12))
    beats = 8 if bpm >= 100 else 4
    return MusicPlan(key=key, mode="minor" if minor else "major", tempo=bpm, progression=progression,
                     beats_per_chord=beats, energy=energy, seed=int(seed))


# ---------------------------------------------------------------------------------------------
# Oscillators

TABLE = 4096


def _table(amps) -> np.ndarray:
    k = np.arange(1, len(amps) + 1)
    ph = np.arange(TABLE) / TABLE
    wave_ = (np.asarray(amps)[:, None] * np.sin(2 * np.pi * k[:, None] * ph[None, :])).sum(axis=0)
    wave_ /= np.abs(wave_).max()
    return np.append(wave_, wave_[0]).astype(np.float32)  # guard point for interpolation


_K = np.arange(1, 25)
# Saw through a gentle low-pass (bright) and a softer, triangle-like tone (dark): the pad fades
# between them over each chord, like a slow filter swell.
BRIGHT = _table((1.0 / _K) / (1.0 + (_K / 9.0) ** 2))
DARK = _table(np.where(_K % 2 == 1, 1.0 / _K ** 1.5, 0.3 / _K ** 1.5) / (1.0 + (_K / 4.0) ** 2))
BASS = _table((1.0, 0.35, 0.12, 0.05))


def _index(freq: float, n: int, start: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Table index and interpolation fraction of an oscillator for samples start..start+n.

    The phase is continuous across segments (it is a function of the absolute sample number)."""
    step = freq / RATE * TABLE
    pos = np.arange(n, dtype=np.float64)
    pos *= step
    pos += ((start * (freq / RATE) + offset) % 1.0) * TABLE
    whole = pos.astype(np.int64)  # pos >= 0: truncation is floor
    pos -= whole
    whole &= TABLE - 1  # TABLE is a power of two: the wrap is a mask, not a float modulo
    return whole, pos.astype(np.float32)


def _lookup(table: np.ndarray, i: np.ndarray, frac: np.ndarray) -> np.ndarray:
    a = table[i]
    b = table[i + 1]
    b -= a
    b *= frac
    b += a
    return b


def midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _pan(p: float) -> tuple[float, float]:
    """Equal-power gains for a pan position 0 (left) .. 1 (right)."""
    return float(np.cos(p * np.pi / 2)), float(np.sin(p * np.pi / 2))


def _nearest(pc: int, centre: float) -> int:
    """The MIDI note of pitch class ``pc`` nearest to ``centre``."""
    base = int(round(centre)) - 6
    return base + ((pc - base) % 12)


# ---------------------------------------------------------------------------------------------
# Rendering

def render(seconds: float, p: MusicPlan, progress=None) -> np.ndarray:
    """The bed as float32 (round(seconds*RATE), 2), normalised (peak -3 dBFS at most, RMS ~ -18)."""
    n = int(round(seconds * RATE))
    out = np.zeros((n, 2), dtype=np.float32)
    if n == 0:
        return out
    rng = np.random.default_rng(stable_int("audio.music.render", p.seed, p.key, p.mode, p.tempo,
                                           p.progression))
    beat = 60.0 / p.tempo
    seg = p.chord_seconds
    seg_n = int(round(seg * RATE))
    chords = max(1, -(-n // seg_n))
    scale = p.scale
    # Random but fixed oscillator phases, and the pad's detuning in cents.
    detune = (-9.0, 0.0, 8.0)
    pans = (0.2, 0.5, 0.8)
    phase0 = rng.random(64)
    melody = _melody(p, rng, chords, beat)
    tail = int(min(1.6, 0.45 * seg) * RATE)
    for c in range(chords):
        s0 = c * seg_n
        if s0 >= n:
            break
        length = min(seg_n + tail, n - s0)
        degree = p.progression[c % len(p.progression)]
        root_pc = (p.key + scale[degree]) % 12
        tones = [(p.key + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]
        # --- pad: close voicing around G3..F#4 (smooth voice leading), plus the root an octave up
        notes = [_nearest(pc, 61) for pc in tones] + [_nearest(root_pc, 69)]
        pad = _pad(notes, detune, pans, phase0, s0, length, seg_n, p.energy, c)
        # --- bass: the root, held (calm) or pulsing on the beat (energetic)
        bass = _bass(_nearest(root_pc, 41), s0, length, seg_n, beat, p.energy, phase0[63])
        out[s0:s0 + length] += pad + bass
        if progress is not None:
            progress(0.8 * (c + 1) / chords)
    _add_melody(out, melody, p)
    _room(out)
    fade(out, min(1.5, 0.25 * seconds), min(3.0, 0.3 * seconds))
    peak, rms = peak_rms(out)
    if peak > 0:
        gain = min(db(-18.0) / max(rms, 1e-12), db(-3.0) / peak)
        out *= np.float32(gain)
    return out


def _envelope(length: int, attack: int, hold: int, release: int) -> np.ndarray:
    """Raised-cosine attack over ``attack`` samples, sustain until ``hold``, then a raised-cosine
    release over ``release`` samples (silence after it)."""
    env = np.ones(length, dtype=np.float32)
    a = min(attack, length)
    if a > 1:
        env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    if hold < length:
        r = max(release, 1)
        fall = (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))).astype(np.float32)
        k = min(r, length - hold)
        env[hold:hold + k] *= fall[:k]
        env[hold + k:] = 0.0
    return env


def _pad(notes, detune, pans, phase0, s0, length, seg_n, energy, c) -> np.ndarray:
    t = np.arange(length, dtype=np.float32) / RATE
    seg = seg_n / RATE
    # filter swell: dark -> brighter -> dark over the chord; livelier music opens further
    swell = (0.15 + (0.3 + 0.35 * energy) * np.sin(np.pi * np.clip(t / seg, 0, 1)) ** 2).astype(np.float32)
    out = np.zeros((length, 2), dtype=np.float32)
    for v, (cents, pan) in enumerate(zip(detune, pans)):  # one stereo position per detune
        bright = np.zeros(length, dtype=np.float32)
        dark = np.zeros(length, dtype=np.float32)
        for j, m in enumerate(notes):
            level = np.float32(0.55 if j == len(notes) - 1 else 1.0)  # the high root: a soft doubling
            i, frac = _index(midi_hz(m + cents / 100.0), length, s0, phase0[(j * 3 + v) % 60])
            bright += level * _lookup(BRIGHT, i, frac)
            dark += level * _lookup(DARK, i, frac)
        bright -= dark
        bright *= swell
        bright += dark
        gl, gr = _pan(pan)
        out[:, 0] += gl * bright
        out[:, 1] += gr * bright
    attack = int(min(1.2, 0.35 * seg) * RATE)
    env = _envelope(length, attack, seg_n, length - seg_n)
    out *= (0.09 * env)[:, None]
    return out


def _bass(m, s0, length, seg_n, beat, energy, offset) -> np.ndarray:
    f = midi_hz(m)
    tone = _lookup(BASS, *_index(f, length, s0, offset))
    t = np.arange(length, dtype=np.float32) / RATE
    if energy >= 0.5:  # pulse: one note per beat with a soft attack and a decay
        tb = np.mod(t, beat)
        env = ((1 - np.exp(-tb / 0.012)) * (0.35 + 0.65 * np.exp(-tb / (0.45 * beat)))
               * (1 - np.exp(-(beat - tb) / 0.015)))  # close each pulse before the next: no click
    else:  # held note that breathes a little
        env = (1 - np.exp(-t / 0.08)) * (0.75 + 0.25 * np.exp(-t / 1.5))
    env = env * _envelope(length, 0, seg_n, length - seg_n)
    gain = 0.14
    mono = (gain * env * tone).astype(np.float32)
    return np.repeat(mono[:, None], 2, axis=1)


# ---------------------------------------------------------------------------------------------
# Melody: sparse plucks on the beat grid, chosen from chord tones and the pentatonic scale


SECTIONS = (1.0, 1.25, 0.55, 1.1)  # melody density per pass of the progression


@dataclass(frozen=True)
class Note:
    start: float   # seconds
    midi: int
    velocity: float
    pan: float


def _melody(p: MusicPlan, rng, chords: int, beat: float) -> list[Note]:
    grid = beat / 2 if p.energy >= 0.5 else beat  # eighths when lively, quarters when calm
    density = 0.25 + 0.35 * p.energy
    steps = int(round(p.chord_seconds / grid))
    scale = p.scale
    penta = [scale[i] for i in ((0, 1, 2, 4, 5) if p.mode == "major" else (0, 2, 3, 4, 6))]
    notes: list[Note] = []
    last = 74
    for c in range(chords):
        if c == 0 and chords > 2:
            continue  # the first chord is an intro: pads only
        degree = p.progression[c % len(p.progression)]
        tones = [(p.key + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]
        # the melody thins out and fills in from one pass of the progression to the next
        busy = density * SECTIONS[(c // len(p.progression)) % len(SECTIONS)]
        for s in range(steps):
            strong = s % (2 if grid < beat else 1) == 0
            if rng.random() >= busy * (1.3 if strong else 0.7):
                continue
            pcs = tones if strong or rng.random() < 0.6 else [(p.key + x) % 12 for x in penta]
            cands = [_nearest(pc, last + rng.normal(0, 4)) for pc in pcs]
            m = int(np.clip(min(cands, key=lambda x: abs(x - last)), 67, 86))
            last = m
            notes.append(Note(c * p.chord_seconds + s * grid, m, float(rng.uniform(0.55, 1.0)),
                              float(rng.uniform(0.3, 0.7))))
    return notes


def _add_melody(out: np.ndarray, notes: list[Note], p: MusicPlan) -> None:
    """Add the plucks, each with a ping-pong echo on the beat grid (left, right, left, fading)."""
    n = len(out)
    dur = 1.8 if p.energy < 0.5 else 1.1
    length = int(dur * RATE)
    t = np.arange(length, dtype=np.float32) / RATE
    attack = 1 - np.exp(-t / 0.004)
    d = int(round(0.75 * 60.0 / p.tempo * RATE))
    for note in notes:
        s0 = int(round(note.start * RATE))
        if s0 >= n:
            continue
        k = min(length, n - s0)
        f = midi_hz(note.midi)
        tone = np.zeros(k, dtype=np.float32)
        # a soft bell/pluck: partials decaying faster the higher they are
        for h, a in ((1, 1.0), (2, 0.35), (3, 0.12), (4, 0.05)):
            if f * h < RATE / 2.5:
                tone += a * np.sin(2 * np.pi * f * h * t[:k]) * np.exp(-t[:k] * (2.2 + 2.5 * h) / dur)
        tone *= attack[:k] * (0.2 * note.velocity)
        gl, gr = _pan(note.pan)
        out[s0:s0 + k, 0] += gl * tone
        out[s0:s0 + k, 1] += gr * tone
        echo = 0.5 * (gl + gr)
        for i, g in enumerate((0.32, 0.2, 0.12), start=1):
            e0 = s0 + d * i
            if e0 >= n:
                break
            m = min(k, n - e0)
            out[e0:e0 + m, i % 2] += (g * echo) * tone[:m]


def _room(out: np.ndarray) -> None:
    """A few short early reflections, each side fed from the other: width and a sense of space."""
    n = len(out)
    taps = (((0.019, 0.14), (0.041, 0.10), (0.067, 0.07)),   # into the left, from the right
            ((0.023, 0.14), (0.037, 0.10), (0.073, 0.07)))   # into the right, from the (dry) left
    dry_left = out[:, 0].copy()
    sources = (out[:, 1], dry_left)
    for ch, tap in enumerate(taps):
        src = sources[ch]
        for delay, g in tap:
            s = int(delay * RATE)
            if s < n:
                out[s:, ch] += g * src[:n - s]
