"""Helpers shared by the built-in media nodes (no nodes live here).

- ``ffmpeg``: the ffmpeg binary, running it with progress and cancellation, probing files;
- ``frames``: streaming RGB frames to video files, and single frames out of them;
- ``yuv``: the fast path: 4:2:0 planes straight to and from x264 (camera renders);
- ``measure``: exact frame counts, pixel formats and rates, by asking ffmpeg;
- ``subrip``: checking SubRip (.srt) text;
- ``files``: fingerprints of user files, so editing a file re-runs the node that reads it;
- ``audio``: reading and writing sample arrays;
- ``draw``: fonts, colours and text layout for draft frames and captions;
- ``backends``: the ``backend`` param every generative node shares;
- ``provenance``: embedding the running workflow in saved files.
"""
