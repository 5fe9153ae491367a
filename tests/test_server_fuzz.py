"""Property-based fuzzing from the app's own OpenAPI document (schemathesis):
whatever the generated request, no 5xx and every response matches the
documented status codes, content types and schemas. Bounded: a few examples per
operation in the default suite; the slow variant runs many more.

(schemathesis' ``from_fixture``/``parametrize`` pytest plugin does not work with
pytest 9, so the operations are walked explicitly with Hypothesis.)"""
import hypothesis
import pytest
import schemathesis
from schemathesis import checks

from server import create_app
from tests.conftest import auth, make_settings

CONFORMANCE = [checks.status_code_conformance, checks.content_type_conformance,
               checks.response_schema_conformance]
STRICT = [checks.not_a_server_error, *CONFORMANCE]


@schemathesis.check
def no_internal_error(ctx, response, case):
    """A home without index/model answers 503 not_ready by design; anything
    else in the 5xx range is a bug."""
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"{case.method} {case.path} answered {response.status_code}")
    if response.status_code == 503:
        body = response.json()
        assert body.get("code") == "not_ready" or body.get("ready") is False  # /readyz


def fuzz(app, max_examples: int, checks_=STRICT) -> list[str]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=max_examples, deadline=None, derandomize=True,
                             database=None, suppress_health_check=list(hypothesis.HealthCheck))
        def run(case):
            case.call_and_validate(headers=auth("admin"), checks=checks_)

        run()
        tested.append(operation.label)
    return tested


def test_kb_only_home_conforms(kb_home):
    tested = fuzz(create_app(make_settings(kb_home)), max_examples=6,
                  checks_=[no_internal_error, *CONFORMANCE])
    assert "POST /v1/analyze" in tested and "PATCH /v1/kb/entries/{entry_id}" in tested
    assert "POST /v1/session" in tested and "DELETE /v1/session" in tested
    assert len(tested) == 33, " ".join(tested)  # every operation but /openapi.json itself


def test_served_home_conforms(served_app):
    fuzz(served_app, max_examples=6)


@pytest.mark.slow
def test_served_home_conforms_thoroughly(served_app):
    fuzz(served_app, max_examples=100)
