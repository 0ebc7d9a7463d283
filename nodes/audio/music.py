from reelgraph.graph import Audio, Float, Int, Node, NodeError, Output, Param, Resources, Text, sketch_media
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.audio import write_wav

from . import _music


class MusicNode(backends.Generative, Node):
    """A music or ambience bed of the given length from a mood prompt (draft: a synthesised chord pad)."""

    type = "audio.music"
    version = "1.1.0"
    task = "music"
    resources = Resources(cpu=1)

    mood = Param(Text, default="calm, hopeful, cinematic",
                 doc="Mood words. Draft: sad/dark/tense/mysterious... give a minor key, otherwise major; "
                     "calm/slow/ambient... a slow tempo, upbeat/energetic/action... a fast one. "
                     "Model backends: the text prompt (genre and instruments help too).")
    seconds = Param(Float, default=24.0, min=0.5, max=1800.0, step=0.5,
                    doc="Length of the bed in seconds (wire the storyboard's duration here).")
    tempo = Param(Int, default=0, min=0, max=240,
                  doc="Beats per minute, 40-240; 0 picks one from the mood (calm 60-80, upbeat 110-140). "
                      "Model backends: added to the prompt (\"90 BPM\"); 0 leaves it to the model.")
    seed = Param(Int, default=0,
                 doc="Variation: another seed gives another key, progression and melody for the same mood "
                     "(model backends: another take).")
    steps = Param(Int, default=0, min=0, max=500, wirable=False,
                  doc="Denoising steps for model backends; 0: the model's default (Stable Audio Open and "
                      "AudioLDM2: 100). The draft ignores it.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    audio = Output(Audio, doc="The bed: 48 kHz stereo WAV, peaks under -3 dBFS, faded in and out.")

    # steps last, with a default: code that calls run() directly and predates it still works
    @classmethod
    def sketch(cls, values: dict) -> dict:
        return {"audio": sketch_media("audio", duration=float(values["seconds"]), sample_rate=48000)}

    def run(self, ctx, mood, seconds, tempo, seed, backend, model, steps=0):
        if 0 < tempo < 40:
            raise NodeError(f"tempo {tempo} bpm is too slow to be heard as a beat", field="tempo",
                            fix="set 40-240 bpm, or 0 to take the tempo from the mood")
        loaded = backends.resolve(ctx, backend, model, self.task)
        if loaded is not None:
            from ._music_model import render
            return render(ctx, loaded, mood=mood, seconds=seconds, tempo=tempo, seed=seed, steps=steps)
        plan = _music.plan(mood, tempo, seed)
        ctx.progress(0.0, f"composing: {plan.describe()}")
        samples = _music.render(seconds, plan, progress=lambda f: ctx.progress(f, "synthesising"))
        path = ctx.temp_path(".wav")
        meta = write_wav(path, samples)
        ctx.progress(1.0, "done")
        return ctx.store_file(path, "audio", **meta, mood=mood[:200], key=plan.key_name,
                              chords=plan.chords, tempo=plan.tempo, seed=seed)
