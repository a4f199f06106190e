"""The error answers of the REST API, written into its OpenAPI schema (a drf-spectacular hook).

DRF answers every operation the same way when something is wrong: 401 without credentials, 403 for
a user who is not staff, 404 for an id that names nothing, 400 when a body does not validate. Each
view would otherwise have to repeat those four in its own ``extend_schema``.
"""

from typing import Any

_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
_FIELDS = {"$ref": "#/components/schemas/ValidationErrors"}
SCHEMAS = {
    "ErrorDetail": {
        "type": "object",
        "description": "Why the request was refused, in one sentence.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": "What was wrong with the request body: a list of messages per field, or 'detail'.",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "object"}]
        },
    },
}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _declare(responses: dict[str, Any], code: str, answer: dict[str, Any]) -> None:
    """Add the answer, or its body where a view declared the status without one."""
    declared = responses.setdefault(code, answer)
    declared.setdefault("content", answer["content"])


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the 400/401/403/404 answers of each operation."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if operation.get("security") and {"basicAuth": []} in operation["security"]:
                _declare(responses, "401", _answer("No or wrong credentials.", _DETAIL))
                _declare(responses, "403", _answer("The user is not staff.", _DETAIL))
            if "{" in path:
                _declare(responses, "404", _answer("No such object.", _DETAIL))
            if method in ("post", "put", "patch"):
                _declare(responses, "400", _answer("The request was refused; the body says why.", _FIELDS))
    return result
