"""`Status` bodies, shaped as the API server sends them with every error."""

from __future__ import annotations

from typing import Any

from kubesim.resources import Resource

# The reason the API server gives for each status code it uses.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

DEFAULT_MESSAGES = {
    400: "the server rejected our request for an unknown reason",
    401: "Unauthorized",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    410: "the requested resource is no longer available",
    415: "the body of the request was in an unknown format - accepted media types include: "
    "application/merge-patch+json, application/strategic-merge-patch+json",
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: simulated failure",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within requested timeout - context deadline exceeded",
}

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


class ApiError(Exception):
    """An error the server answers with a Status body."""

    def __init__(self, body: dict) -> None:
        super().__init__(body["message"])
        self.body = body

    @classmethod
    def of(cls, code: int, message: str | None = None, **kwargs: Any) -> ApiError:
        return cls(failure(code, message, **kwargs))


def failure(
    code: int,
    message: str | None = None,
    *,
    reason: str | None = None,
    details: dict | None = None,
    metadata: dict | None = None,
) -> dict:
    """A `Status` with `status: Failure` for an HTTP error code."""
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata or {},
        "status": "Failure",
        "message": message or DEFAULT_MESSAGES.get(code, "unknown error"),
        "reason": reason or REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def details(resource: Resource | None, name: str = "") -> dict:
    """The `details` block naming the object an error is about."""
    result: dict = {}
    if name:
        result["name"] = name
    if resource is not None:
        if resource.group:
            result["group"] = resource.group
        result["kind"] = resource.plural
    return result


def forbidden_message(
    user: str,
    verb: str,
    resource: Resource | None,
    *,
    namespace: str = "",
    name: str = "",
    subresource: str = "",
    path: str = "",
) -> str:
    """RBAC's wording for a denied request, e.g. `deployments.apps is forbidden: ...`."""
    if resource is None:
        return f'forbidden: User "{user}" cannot {verb} path "{path}"'
    subject = resource.qualified_name + (f' "{name}"' if name else "")
    plural = resource.plural + (f"/{subresource}" if subresource else "")
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
        f'in API group "{resource.group}" {scope}'
    )
