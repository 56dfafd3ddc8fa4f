"""OpenAPI post-processing: document the error answers every Blink endpoint can give.

drf-spectacular documents what a view declares; the refusals that come from the stack around the view —
401 without credentials, 403 without the role, 404 for an unknown object in the path, 400/413/415 for a
body that cannot be read — were missing from most operations, so a client (or schemathesis) could not tell
a documented refusal from a bug. Each gets the plain ``{"detail": ...}`` body DRF and Blink's middleware
send; operations that already describe a status keep their own description.
"""

from __future__ import annotations

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "A refusal: `detail` says why; some endpoints add `code` and `field`.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string", "nullable": True},
    },
    "required": ["detail"],
}
VALIDATION_SCHEMA_NAME = "ValidationError"
VALIDATION_SCHEMA = {
    "type": "object",
    "description": 'Invalid input: `{"detail": ...}` or, DRF style, `{"<field>": "<message>" or ["<message>", ...]}`.',
    "additionalProperties": True,
}
METHODS = ("get", "put", "patch", "post", "delete", "head", "options", "trace")
# Raised by the stack around every view (authentication, permissions, URL resolution): whatever a view
# documents for them, the body is DRF's plain {"detail": ...}, possibly with more keys from Blink's views.
STACK_STATUSES = ("401", "403", "404")


def _error(description: str, schema_name: str = ERROR_SCHEMA_NAME) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


def _is_public(operation: dict) -> bool:
    # drf-spectacular lists an empty requirement ({}) when anonymous access is allowed.
    return any(requirement == {} for requirement in operation.get("security", [{}]))


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    schemas.setdefault(VALIDATION_SCHEMA_NAME, VALIDATION_SCHEMA)
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            wanted = {}
            if not _is_public(operation):
                wanted["401"] = "Not signed in (no session and no valid token)"
                wanted["403"] = "Signed in without the role this needs, or no access to this object"
            if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", [])):
                wanted["404"] = "No such object (or no such page of a list)"
            if operation.get("parameters") or "requestBody" in operation:
                wanted["400"] = "Invalid parameters or body"
            if "requestBody" in operation:
                wanted["413"] = "Body over the size limit"
                wanted["415"] = "Body of a media type this endpoint does not read"
            for status, description in wanted.items():
                if status in STACK_STATUSES:
                    kept = responses.get(status, {}).get("description") or description
                    responses[status] = _error(kept)
                elif status == "400":
                    responses.setdefault(status, _error(description, VALIDATION_SCHEMA_NAME))
                else:
                    responses.setdefault(status, _error(description))
    return result
