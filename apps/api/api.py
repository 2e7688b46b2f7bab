"""The HTTP API, /api/v1/: reads from the database only, acts through the pages' own services and gates.

Every operation needs a bearer token (auth.py); refusals are problem details (problems.py).
Views stay thin: find what the token may see (404 otherwise), check the scope, call a
selector or a service, shape the answer.
"""

from __future__ import annotations

import hashlib
import uuid

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import CursorPagination, paginate

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import is_sre
from apps.api import idempotency, selectors
from apps.api.auth import TokenAuth, scope_require, token_of
from apps.api.models import ApiToken
from apps.api.problems import ERRORS, Problem, ProblemOut, problem_response
from apps.api.schemas import (
    ApprovalIn,
    ApprovalOut,
    DeclineIn,
    DeployIn,
    DeploymentOut,
    EnvironmentOut,
    FluxActionIn,
    FluxActionOut,
    FluxObjectOut,
    MeOut,
    NamespaceOut,
    PodOut,
    ProgressOut,
    ScorecardOut,
    TeamOut,
    WorkloadOut,
)  # fmt: skip
from apps.clusters import flux_actions
from apps.clusters.models import FluxAction, FluxObject
from apps.environments import services as env_services
from apps.environments.models import Approval, Deployment, Environment
from apps.environments.selectors import team_environments
from apps.lessons.selectors import phases_overview
from apps.readiness.selectors import team_scorecard

CHANNEL = "api"
PAGE = {"page_size": 50, "max_page_size": 200}


class ShirubeAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Errors are problem details: say so in the document, so clients (and schemathesis) expect it."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content["application/problem+json"] = content.pop("application/json")
        return schema


api = ShirubeAPI(
    title="Shirube API",
    version="1",
    description="Read what the portal shows and act through the same gates. See docs/api.md.",
    urls_namespace="api",
    auth=TokenAuth(),
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_url="/docs",
)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem):
    return problem_response(api, request, exc)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
    problem = Problem(401, "unauthenticated", "A valid token is needed",
                      "Send Authorization: Bearer <token>; the token may be unknown, expired or revoked.",
                      headers={"WWW-Authenticate": 'Bearer realm="shirube"'})  # fmt: skip
    return problem_response(api, request, problem)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError):
    where = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors[:5]
    )
    return problem_response(api, request, Problem(400, "invalid", "The request is not valid", where))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404):
    return problem_response(api, request, Problem(404, "not-found", "Not found", str(exc) or "Not found."))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    return problem_response(api, request, Problem(exc.status_code, "error", str(exc)))


# -- helpers -----------------------------------------------------------------------------


def _team(request: HttpRequest, slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None or not selectors.token_may_read_team(token_of(request), team):
        raise Http404("No such team")  # the same answer as for a team that does not exist
    return team


def _environment(request: HttpRequest, team_slug: str, env_slug: str) -> Environment:
    team = _team(request, team_slug)
    app, _, stage = env_slug.rpartition("-")
    environment = (
        Environment.objects.filter(team=team, app=app, stage=stage)
        .select_related("cluster", "team", "promotes_from", "promotes_from__cluster")
        .first()
    )
    if environment is None:
        raise Http404("No such environment")
    return environment


def _refused(exc: Exception, status: int) -> Problem:
    verdict = getattr(exc, "verdict", None)
    failing = verdict.failing if verdict is not None else []
    lessons = [
        {"title": lesson.title, "url": reverse("lessons:lesson", args=[lesson.phase.slug, lesson.slug])}
        for gate in failing for lesson in gate.lessons
    ]  # fmt: skip
    kind = "invalid" if status == 400 else "refused"
    return Problem(status, kind, "Refused" if status == 403 else "The request is not valid", str(exc),
                   gates=[g.message for g in failing], lessons=lessons)  # fmt: skip


# -- reads -------------------------------------------------------------------------------


@api.get("/me", response={200: MeOut, **ERRORS}, tags=["you"])
def me(request: HttpRequest):
    token = scope_require(request, ApiToken.Scope.READ)
    user = token.user
    memberships = Membership.objects.filter(user=user).select_related("team")
    return {
        "username": user.get_username(), "sre": is_sre(user), "token": token.name, "token_kind": token.kind,
        "scopes": token.scopes, "teams": [{"team": m.team.slug, "role": m.role} for m in memberships],
        "completed_phases": [
            c.phase.slug for c in phases_overview(user=user) if c.total and c.completed == c.total
        ],
    }  # fmt: skip


@api.get("/me/progress", response={200: list[ProgressOut], **ERRORS}, tags=["you"])
def my_progress(request: HttpRequest):
    token = scope_require(request, ApiToken.Scope.READ)
    return [
        {"phase": c.phase.slug, "title": c.phase.title, "done": c.completed, "total": c.total,
         "complete": bool(c.total) and c.completed == c.total}
        for c in phases_overview(user=token.user)
    ]  # fmt: skip


@api.get("/teams", response={200: list[TeamOut], **ERRORS}, tags=["teams"])
@paginate(CursorPagination, ordering=("slug",), **PAGE)
def teams(request: HttpRequest) -> QuerySet[Team]:
    return selectors.teams_readable(scope_require(request, ApiToken.Scope.READ))


@api.get("/teams/{slug}", response={200: TeamOut, **ERRORS}, tags=["teams"])
def team(request: HttpRequest, slug: str):
    scope_require(request, ApiToken.Scope.READ)
    return _team(request, slug)


@api.get("/teams/{slug}/namespaces", response={200: list[NamespaceOut], **ERRORS}, tags=["cluster"])
@paginate(CursorPagination, ordering=("id",), **PAGE)
def namespaces(request: HttpRequest, slug: str):
    scope_require(request, ApiToken.Scope.READ)
    return selectors.team_namespaces(team=_team(request, slug))


@api.get("/teams/{slug}/workloads", response={200: list[WorkloadOut], **ERRORS}, tags=["cluster"])
@paginate(CursorPagination, ordering=("id",), **PAGE)
def workloads(request: HttpRequest, slug: str, namespace: str = ""):
    scope_require(request, ApiToken.Scope.READ)
    return selectors.team_workloads(team=_team(request, slug), namespace=namespace)


@api.get("/teams/{slug}/pods", response={200: list[PodOut], **ERRORS}, tags=["cluster"])
@paginate(CursorPagination, ordering=("id",), **PAGE)
def pods(request: HttpRequest, slug: str, namespace: str = "", workload: str = "", problems: bool = False):
    """The team's pods; `workload` for one workload's, `problems=true` for its current problems."""
    scope_require(request, ApiToken.Scope.READ)
    return selectors.team_pods(team=_team(request, slug), namespace=namespace, workload=workload,
                               problems_only=problems)  # fmt: skip


@api.get("/teams/{slug}/flux-objects", response={200: list[FluxObjectOut], **ERRORS}, tags=["cluster"])
@paginate(CursorPagination, ordering=("id",), **PAGE)
def flux_objects(request: HttpRequest, slug: str):
    scope_require(request, ApiToken.Scope.READ)
    return selectors.team_flux_objects(team=_team(request, slug))


@api.get("/teams/{slug}/readiness", response={200: ScorecardOut, **ERRORS}, tags=["readiness"])
def readiness(request: HttpRequest, slug: str):
    scope_require(request, ApiToken.Scope.READ)
    card = team_scorecard(team=_team(request, slug))
    return {
        "team": slug, "score": card.score,
        "findings": [{"rule": v.rule.id, "title": v.rule.title, "severity": v.finding.severity,
                      "namespace": v.finding.namespace,
                      "workload": f"{v.finding.workload_kind}/{v.finding.workload_name}",
                      "exempt": v.exempt} for v in card.findings],
    }  # fmt: skip


@api.get("/teams/{slug}/environments", response={200: list[EnvironmentOut], **ERRORS}, tags=["environments"])
def environments(request: HttpRequest, slug: str):
    scope_require(request, ApiToken.Scope.READ)
    return [
        {"slug": r.environment.slug, "app": r.environment.app, "stage": r.environment.stage,
         "cluster": r.environment.cluster.name, "namespace": r.environment.namespace,
         "git_tag": r.environment.git_tag, "git_sha": r.environment.git_sha, "pinned": r.environment.pinned,
         "follows_automation": r.environment.follows_automation,
         "requires_approval": r.environment.requires_approval,
         "allow_service_tokens": r.environment.allow_service_tokens,
         "promotes_from": r.environment.promotes_from.slug if r.environment.promotes_from else None,
         "live_state": r.live.state, "running": dict(r.live.running), "ready_pods": r.live.ready,
         "pods": r.live.total}
        for r in team_environments(team=_team(request, slug))
    ]  # fmt: skip


@api.get("/teams/{slug}/environments/{env}/deployments", response={200: list[DeploymentOut], **ERRORS},
         tags=["environments"])  # fmt: skip
@paginate(CursorPagination, ordering=("-id",), **PAGE)
def deployments(request: HttpRequest, slug: str, env: str):
    scope_require(request, ApiToken.Scope.READ)
    environment = _environment(request, slug, env)
    return Deployment.objects.filter(environment=environment).select_related(
        "requested_by", "environment__team"
    )


@api.get("/deployments/{deployment_id}", response={200: DeploymentOut, **ERRORS}, url_name="deployment",
         tags=["environments"])  # fmt: skip
def deployment(request: HttpRequest, deployment_id: int):
    scope_require(request, ApiToken.Scope.READ)
    d = get_object_or_404(
        Deployment.objects.select_related("environment__team", "requested_by"), pk=deployment_id
    )
    _team(request, d.environment.team.slug)
    d.steps = selectors.deployment_steps(deployment_id=d.pk)
    return d


@api.get("/teams/{slug}/environments/{env}/approvals", response={200: list[ApprovalOut], **ERRORS},
         url_name="approvals", tags=["environments"])  # fmt: skip
@paginate(CursorPagination, ordering=("-id",), **PAGE)
def approvals(request: HttpRequest, slug: str, env: str):
    scope_require(request, ApiToken.Scope.READ)
    environment = _environment(request, slug, env)
    return Approval.objects.filter(environment=environment).select_related(
        "environment__team", "requested_by", "approved_by", "declined_by"
    )


@api.get("/flux-actions/{action_id}", response={200: FluxActionOut, **ERRORS}, url_name="flux_action",
         tags=["cluster"])  # fmt: skip
def flux_action(request: HttpRequest, action_id: int):
    token = scope_require(request, ApiToken.Scope.READ)
    action = get_object_or_404(FluxAction.objects.select_related("team"), pk=action_id)
    if action.team is None or not selectors.token_may_read_team(token, action.team):
        raise Http404("No such action")
    return action


# -- acts: 202 with what to follow, through the pages' services and gates ---------------------


def _accepted(request: HttpRequest, token: ApiToken, run) -> object:
    status, body = idempotency.idempotent(request, token, run)
    response = api.create_response(request, body, status=status)
    response["Location"] = body["url"]
    return response


def _dump(schema, obj) -> dict:
    return schema.from_orm(obj).model_dump(mode="json")


def _request_key(request: HttpRequest, token: ApiToken) -> str:
    """The deployment's own key (unique in the database): per token and Idempotency-Key, else fresh."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return uuid.uuid4().hex
    return f"api{token.pk}-" + hashlib.sha256(key.encode()).hexdigest()[:40]


ACT_ERRORS = {**ERRORS, 409: ProblemOut, 422: ProblemOut}


@api.post("/teams/{slug}/environments/{env}/deployments", response={202: DeploymentOut, **ACT_ERRORS},
          tags=["environments"])  # fmt: skip
def deployment_create(request: HttpRequest, slug: str, env: str, body: DeployIn):
    """Deploy a tag, promote, or roll back (`kind`): the same gates as the page; 202 and a URL to follow."""
    token = scope_require(request, ApiToken.Scope.DEPLOY)
    environment = _environment(request, slug, env)
    if body.kind not in ("deploy", "promote", "rollback"):
        raise Problem(400, "invalid", "Unknown kind", "kind is one of deploy, promote, rollback.")

    def run():
        try:
            d = env_services.deployment_request(
                user=token.user, environment=environment, kind=body.kind, tag=body.tag,
                idempotency_key=_request_key(request, token), channel=CHANNEL,
                confirm_unverified=body.confirm_unverified,
            )  # fmt: skip
        except env_services.TagUnconfirmed as exc:
            raise Problem(
                400,
                "unconfirmed-tag",
                "The tag is not confirmed",
                f"{exc} Send confirm_unverified: true to deploy it on your word.",
            ) from None
        except env_services.RequestRefused as exc:
            raise _refused(exc, 400 if isinstance(exc, env_services.BadInput) else 403) from None
        return 202, _dump(DeploymentOut, d)

    return _accepted(request, token, run)


@api.post("/teams/{slug}/environments/{env}/approvals", response={202: ApprovalOut, **ACT_ERRORS},
          tags=["environments"])  # fmt: skip
def approval_create(request: HttpRequest, slug: str, env: str, body: ApprovalIn):
    token = scope_require(request, ApiToken.Scope.DEPLOY)
    environment = _environment(request, slug, env)

    def run():
        try:
            a = env_services.approval_request(user=token.user, environment=environment, tag=body.tag,
                                              reason=body.reason, channel=CHANNEL)  # fmt: skip
        except env_services.RequestRefused as exc:
            raise _refused(exc, 400 if isinstance(exc, env_services.BadInput) else 403) from None
        return 202, _dump(ApprovalOut, a)

    return _accepted(request, token, run)


def _approval_answer(request: HttpRequest, slug: str, env: str, approval_id: int, *, approve: bool,
                     reason: str = ""):  # fmt: skip
    token = scope_require(request, ApiToken.Scope.APPROVE)
    environment = _environment(request, slug, env)
    approval = Approval.objects.filter(pk=approval_id, environment=environment).first()
    if approval is None:
        raise Http404("No such approval request")
    approval.environment = environment

    def run():
        try:
            if approve:
                a = env_services.approval_grant(user=token.user, approval=approval, channel=CHANNEL)
            else:
                a = env_services.approval_decline(
                    user=token.user, approval=approval, reason=reason, channel=CHANNEL
                )
        except env_services.RequestRefused as exc:
            raise _refused(exc, 400 if isinstance(exc, env_services.BadInput) else 403) from None
        return 202, _dump(ApprovalOut, a)

    return _accepted(request, token, run)


@api.post("/teams/{slug}/environments/{env}/approvals/{approval_id}/grant",
          response={202: ApprovalOut, **ACT_ERRORS}, tags=["environments"])  # fmt: skip
def approval_grant(request: HttpRequest, slug: str, env: str, approval_id: int):
    return _approval_answer(request, slug, env, approval_id, approve=True)


@api.post("/teams/{slug}/environments/{env}/approvals/{approval_id}/decline",
          response={202: ApprovalOut, **ACT_ERRORS}, tags=["environments"])  # fmt: skip
def approval_decline(request: HttpRequest, slug: str, env: str, approval_id: int, body: DeclineIn):
    return _approval_answer(request, slug, env, approval_id, approve=False, reason=body.reason)


@api.post("/flux-actions", response={202: FluxActionOut, **ACT_ERRORS}, tags=["cluster"])
def flux_action_create(request: HttpRequest, body: FluxActionIn):
    """Reconcile, suspend (with a reason) or resume a Flux object: the page's permission check."""
    token = scope_require(request, ApiToken.Scope.FLUX)
    obj = (
        FluxObject.objects.filter(cluster__name=body.cluster, kind=body.kind, namespace=body.namespace,
                                  name=body.name).select_related("cluster").first()
    )  # fmt: skip
    team = flux_actions.flux_object_team(obj) if obj is not None else None
    if obj is None or team is None or not selectors.token_may_read_team(token, team):
        raise Http404("No such Flux object")

    def run():
        try:
            action = flux_actions.flux_action_request(
                user=token.user, obj=obj, action=body.action, reason=body.reason, channel=CHANNEL
            )
        except flux_actions.ActionRefused as exc:
            raise _refused(exc, 400 if isinstance(exc, flux_actions.BadInput) else 403) from None
        return 202, _dump(FluxActionOut, action)

    return _accepted(request, token, run)
