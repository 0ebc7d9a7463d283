"""Helpers shared by the built-in media nodes (no nodes live here).

- ``ffmpeg``: the ffmpeg binary, running it with progress and cancellation, probing files;
- ``frames``: streaming frames to and from video files (never a whole video in memory);
- ``audio``: reading and writing sample arrays;
- ``draw``: fonts, colours and text layout for draft frames and captions;
- ``backends``: the ``backend`` param every generative node shares;
- ``provenance``: embedding the running workflow in saved files.
"""
