from reelgraph.graph import Choice, Input, Int, Node, NodeError, Output, Param, Resources, Video

from ._media import encode, even_size, video_info, video_meta

_FILTERS = {
    "blend": "framerate=fps={fps}",
    "motion": "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
}


class InterpolateVideoNode(Node):
    """Raise a clip's frame rate with in-between frames (blended or motion-compensated); same length."""

    type = "video.interpolate"
    version = "2.0.0"
    resources = Resources(cpu=1)

    video = Input(Video, doc="The clip to make smoother; its sound is kept.")
    fps = Param(Int, default=48, min=2, max=240,
                doc="Target frames per second; must be above the clip's own fps.")
    method = Param(Choice, default="blend", choices=tuple(_FILTERS),
                   doc="blend: cross-fade neighbouring frames (fast, soft); motion: motion-compensated "
                       "in-betweens (sharper on smooth moves, slower, may warp on fast action).")
    video_out = Output(Video, name="video", doc="The clip at the new frame rate, same duration, H.264 MP4.")

    @classmethod
    def upgrade_params(cls, params: dict, from_version: str) -> dict:
        # 1.x had backend/model params, but only the draft (ffmpeg) ever existed: interpolation models
        # are not diffusers pipelines, so 2.0 dropped them and an old choice changes nothing
        params = dict(params)
        if int(from_version.split(".")[0]) < 2:
            params.pop("backend", None)
            params.pop("model", None)
        return params

    def run(self, ctx, video, fps, method):
        info = video_info(video)
        src_fps = float(info["fps"])
        if fps <= src_fps + 1e-6:
            raise NodeError(f"target fps {fps} is not above the clip's {src_fps:g} fps", field="fps",
                            fix=f"set fps above {src_fps:g} (e.g. {max(2, round(2 * src_fps))}), or "
                                "leave this node out")
        if method not in _FILTERS:
            raise NodeError(f"unknown method {method!r}", field="method", fix="use blend or motion")
        frames_in = int(info.get("frames") or round(info["duration"] * src_fps))
        duration = frames_in / src_fps
        frames = max(1, round(duration * fps))
        # Hold the last frame one frame longer so the in-betweens reach the end, then force a
        # constant rate and the exact frame count: the duration stays the same.
        width, height, to_even = even_size(info)
        chain = f"tpad=stop_mode=clone:stop=1,{_FILTERS[method].format(fps=fps)},fps={fps}"
        if to_even:
            chain += "," + to_even
        path = ctx.temp_path(".mp4")
        encode(ctx, ["-i", info["path"]], path, has_audio=info["has_audio"],
               video_args=["-map", "0:v:0", "-vf", chain, "-frames:v", str(frames)],
               duration=duration, what=f"interpolating to {fps} fps")
        return ctx.store_file(path, "video", **video_meta(width, height, fps, frames, info["has_audio"],
                                                          method=method))
