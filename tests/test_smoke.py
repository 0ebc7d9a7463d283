from reelgraph import graph


def test_shipped_example_runs_and_maps_over_shots(registry, cache_dir):
    from reelgraph.workflows import path
    result = graph.run(path("shot_outline"), registry=registry, cache=cache_dir)
    assert result.ok, result.failures
    text = result.value("title.text")
    assert text.startswith("The Keeper: 3 shots")
    assert "Shot 3: The great lamp turns" in text
    assert result.value("describe.text")[1].startswith("Shot 2: Waves")
