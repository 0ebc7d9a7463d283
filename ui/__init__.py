"""reelgraph.ui — the command line (``reelgraph``) now; the Gradio editor lands here next."""
