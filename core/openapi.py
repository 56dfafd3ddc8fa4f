"""OpenAPI post-processing: every refusal of every endpoint, documented in the one shape of ``core.errors``.

drf-spectacular documents what a view declares; the refusals that come from the stack around the view —
401 without credentials, 403 without the role, 404 for an unknown object in the path, 400/413/415 for a
body that cannot be read — were missing from most operations, so a client (or schemathesis) could not tell
a documented refusal from a bug. Each gets the ``Error`` body; a status a view already documents keeps its
description, and its body is the ``Error`` body too, since every refusal is answered in that shape.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "A refusal: `detail` says why (for a person), `code` says what (for a program), `field` names "
    "the input at fault (null when none does). Some refusals add context, e.g. the training run in flight.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string", "nullable": True},
    },
    "required": ["detail", "code", "field"],
}
# What each refusal status means: for the refusals of the stack around every view, and for views that declare
# the refusals their own logic gives.
REFUSAL_DESCRIPTIONS = {
    400: "Invalid parameters or body (`field` names the input at fault)",
    401: "Not signed in (no session and no valid token)",
    403: "Signed in without the role this needs, or no access to this object",
    404: "No such object",
    409: "The request conflicts with the current state (already done, already active, retired ...)",
    413: "Body over the size limit",
    415: "Body of a media type this endpoint does not read",
    429: "Too many requests from this account or address: wait for the `Retry-After` header's seconds",
}
METHODS = ("get", "put", "patch", "post", "delete", "head", "options", "trace")


def refusal_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses={..., **refusal_responses(400, 409)})``: refusals a view documents; their body
    is the ``Error`` body whatever the view declares (``add_error_responses``)."""
    return {status: OpenApiResponse(description=REFUSAL_DESCRIPTIONS[status]) for status in statuses}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}},
    }


def _is_public(operation: dict) -> bool:
    # drf-spectacular lists an empty requirement ({}) when anonymous access is allowed.
    return any(requirement == {} for requirement in operation.get("security", [{}]))


def _stack_refusals(path: str, operation: dict) -> list[int]:
    """The refusals the stack around a view can answer, whatever the view does."""
    wanted = []
    if not _is_public(operation):
        wanted += [401, 403]
    if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", [])):
        wanted.append(404)  # an unknown object in the path, or no such page of a list
    if operation.get("parameters") or "requestBody" in operation:
        wanted.append(400)
    if "requestBody" in operation:
        wanted += [413, 415]
    return wanted


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _stack_refusals(path, operation):
                responses.setdefault(str(status), {"description": REFUSAL_DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[0] in "45":
                    responses[status] = _error(response.get("description") or "Refused")
    return result
