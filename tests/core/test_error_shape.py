"""Every refusal of the API answers one shape: ``{"detail": <why>, "code": <what>, "field": <input or null>}``.

Whoever refuses (DRF's validation, authentication and permissions, the role guard of a page asked for JSON,
the request-size middleware, the URL conf's 404, a service raising ``ServiceError``, the database being
away), the client reads the same three keys.
"""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from core import api_errors
from core.errors import ServiceError, refusal

pytestmark = pytest.mark.django_db


def assert_shape(body: dict, code: str, field: str | None) -> dict:
    assert set(body) == {"detail", "code", "field"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["code"] == code
    assert body["field"] == field
    return body


def assert_refusal(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return assert_shape(json.loads(response.content), code, field)


def handled(exc):
    """What the API's exception handler answers for ``exc`` (status, body, response)."""
    response = api_errors.exception_handler(exc, {})
    return response.status_code, response.data, response


def test_invalid_input_names_its_first_field(api_for, mllead):
    r = api_for(mllead).post("/api/models/rollback/", {"reason": "x"}, format="json")
    assert_refusal(r, 400, "required", "task")


def test_a_choice_outside_the_list_says_which_field(api_for, mllead):
    r = api_for(mllead).post("/api/models/rollback/", {"task": "nope", "reason": "x"}, format="json")
    body = assert_refusal(r, 400, "invalid_choice", "task")
    assert "nope" in body["detail"]


def test_malformed_json_is_a_parse_error(api_for, mllead):
    r = api_for(mllead).generic("POST", "/api/models/rollback/", "{not json", content_type="application/json")
    assert_refusal(r, 400, "parse_error")


def test_json_nested_too_deeply_is_a_parse_error(api_for, mllead):
    r = api_for(mllead).generic("POST", "/api/models/rollback/", "[" * 5000, content_type="application/json")
    assert_refusal(r, 400, "parse_error")


def test_anonymous_is_not_authenticated(api_for):
    assert_refusal(api_for(None).get("/api/alerts/"), 401, "not_authenticated")


def test_a_bad_token_is_refused_in_the_same_shape(client):
    r = client.get("/api/alerts/", HTTP_AUTHORIZATION="Token not-a-token")
    assert_refusal(r, 401, "authentication_failed")


def test_a_missing_role_is_permission_denied(api_for, volunteer):
    assert_refusal(api_for(volunteer).get("/api/models/versions/"), 403, "permission_denied")


def test_a_page_asked_for_json_refuses_in_the_same_shape(client_for, volunteer):
    assert_refusal(client_for(None).get("/ml/", HTTP_ACCEPT="application/json"), 401, "not_authenticated")
    assert_refusal(client_for(volunteer).get("/ml/", HTTP_ACCEPT="application/json"), 403, "permission_denied")


def test_an_unknown_object_is_not_found(api_for, volunteer):
    assert_refusal(api_for(volunteer).get("/api/alerts/1/"), 404, "not_found")


def test_an_unknown_api_path_is_not_found(api_for, volunteer):
    assert_refusal(api_for(volunteer).get("/api/no-such-thing/"), 404, "not_found")


def test_a_method_the_endpoint_lacks_is_refused(api_for, mllead):
    assert_refusal(api_for(mllead).delete("/api/models/rollback/"), 405, "method_not_allowed")


def test_a_body_of_another_media_type_is_refused(api_for, mllead):
    r = api_for(mllead).generic("POST", "/api/models/rollback/", "task=x", content_type="text/plain")
    assert_refusal(r, 415, "unsupported_media_type")


def test_a_service_conflict_is_a_409(api_for, mllead):
    r = api_for(mllead).post("/api/models/rollback/", {"task": "real_bogus", "reason": "x"}, format="json")
    assert_refusal(r, 409, "conflict")


def test_a_body_over_the_limit_is_refused_before_any_parser(client_for, volunteer, settings):
    body = b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    r = client_for(volunteer).generic("POST", "/api/alerts/", body, content_type="application/json")
    assert_refusal(r, 413, "too_large")


def test_an_unreadable_content_length_is_refused(client_for, volunteer):
    r = client_for(volunteer).generic(
        "POST", "/api/alerts/", b"{}", content_type="application/json", CONTENT_LENGTH="x"
    )
    assert_refusal(r, 400, "invalid")


def test_an_unreachable_database_is_a_503_to_retry():
    status, body, response = handled(OperationalError("server closed the connection"))
    assert status == 503
    assert response["Retry-After"] == str(api_errors.RETRY_AFTER_S)
    assert_shape(body, "unavailable", None)


def test_a_server_error_under_the_api_answers_json():
    assert_refusal(api_errors.server_error(RequestFactory().get("/api/alerts/")), 500, "server_error")


def test_a_service_error_carries_its_field_code_and_status():
    class Conflict(ServiceError):
        status = 409

    status, body, _ = handled(Conflict("already settled", field="answer"))
    assert status == 409
    assert_shape(body, "conflict", "answer")
    status, body, _ = handled(ServiceError("too short", field="name", code="min_length"))
    assert status == 400
    assert_shape(body, "min_length", "name")


def test_nested_validation_errors_name_the_path_to_the_field():
    from rest_framework.exceptions import ValidationError

    exc = ValidationError({"classes": [{}, {"key": ["This field is required."]}]})
    assert api_errors.first_error(exc.detail) == ("classes.1.key", "This field is required.", "invalid")
    exc = ValidationError({"non_field_errors": ["the two passwords differ"]})
    assert api_errors.first_error(exc.detail)[0] is None


def test_the_builder_answers_what_the_schema_requires():
    from core.openapi import ERROR_SCHEMA

    body = assert_refusal(refusal("no such night", status=404, field="night"), 404, "not_found", "night")
    assert sorted(body) == sorted(ERROR_SCHEMA["required"])


def test_the_schema_documents_every_refusal_with_the_error_body(api_for, volunteer):
    schema = api_for(volunteer).get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code", "field"]
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for status, response in operation.get("responses", {}).items()
        if status[0] in "45"
        and response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": "#/components/schemas/Error"}
    ]
    assert wrong == []
