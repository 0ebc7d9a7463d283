"""The job service (`reelgraph serve`): a REST + SSE adapter over reelgraph.graph.jobs."""
