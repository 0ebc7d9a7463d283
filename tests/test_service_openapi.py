"""The service never answers 5xx, whatever a client sends: schemathesis generates requests for every
operation of /openapi.json (bounded and deterministic) against the ASGI app over a real JobRunner."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from reelgraph import graph
from reelgraph.graph.jobs import JobRunner
from reelgraph.ui.service.app import create_app
from reelgraph.ui.service.server import create_token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from servicekit import WEBHOOK_KEY


@pytest.fixture
def token(tmp_path):
    """A real token: the generated requests then reach every route instead of stopping at 401."""
    return create_token(tmp_path / "data", "fuzz")


@pytest.fixture
def api_schema(tmp_path, registry, token):
    runner = JobRunner(tmp_path / "data", graph.Cache(tmp_path / "cache"), workers=1, registry=registry,
                       workspace=tmp_path / "ws").start()
    runner.pause()  # generated workflows that happen to be valid stay queued instead of running
    app = create_app(runner, workspace=tmp_path / "ws", webhook_key=WEBHOOK_KEY, max_upload=2**20)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        runner.close()
        app.state.webhooks.close()


# Hand-driven rather than through ``schema.parametrize``: its lazy (fixture) loader does not run on
# pytest 9, and a schema loaded at import would start a runner while tests are only collected.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_makes_the_service_fail(api_schema, token, mode):
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=20, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        no_server_error()
