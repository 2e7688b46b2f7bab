"""Errors as RFC 9457 problem details (application/problem+json), the one error shape of the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Schema

PROBLEM_BASE = "https://shirube.dev/problems/"  # type URIs: names, not fetched by anyone


class LessonRef(Schema):
    title: str
    url: str


class ProblemOut(Schema):
    """RFC 9457: `type`, `title`, `status`, `detail`; `gates` and `lessons` say what unlocks a refusal."""

    type: str
    title: str
    status: int
    detail: str = ""
    gates: list[str] = []
    lessons: list[LessonRef] = []


class Problem(Exception):
    def __init__(self, status: int, kind: str, title: str, detail: str = "", *, gates=None, lessons=None,
                 headers: dict[str, str] | None = None):  # fmt: skip
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.gates, self.lessons, self.headers = gates or [], lessons or [], headers or {}

    def body(self) -> dict:
        return {
            "type": PROBLEM_BASE + self.kind, "title": self.title, "status": self.status,
            "detail": self.detail,
            "gates": self.gates, "lessons": self.lessons,
        }  # fmt: skip


def problem_response(api, request: HttpRequest, problem: Problem) -> HttpResponse:
    response = api.create_response(request, problem.body(), status=problem.status)
    response["Content-Type"] = "application/problem+json"
    for name, value in problem.headers.items():
        response[name] = value
    return response


# The refusals every operation can answer, for the OpenAPI document.
ERRORS = {400: ProblemOut, 401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 429: ProblemOut}
