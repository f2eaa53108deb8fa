"""Invites and members of a project: POST/GET /projects/{projectId}/invites,
DELETE /projects/{projectId}/invites/{inviteId}, POST /invites/{token}/accept,
GET /projects/{projectId}/members, PUT/DELETE /projects/{projectId}/members/{userId}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock, idempotency
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.observability import lambda_handler, metrics
from project_service.logic import collaboration
from project_service.logic.context import project_context
from project_service.models import InviteInput, RoleInput

app = api.create_app()


def collaboration_context(tenant_id: str) -> collaboration.CollaborationContext:
    return collaboration.CollaborationContext(
        project=project_context(tenant_id),
        collaboration=factory.collaboration_store(),
        public_base_url=get_settings().public_base_url,
    )


@app.post("/projects/<project_id>/invites", middlewares=[idempotency.idempotent])
def create_invite(project_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, InviteInput)
    created = collaboration.create_invite(
        principal, project_id, request, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    metrics.add_metric(name="InvitesCreated", unit=MetricUnit.Count, value=1)
    return created.dump(), 201


@app.get("/projects/<project_id>/invites")
def list_invites(project_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    return collaboration.list_invites(
        principal,
        project_id,
        collaboration_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    ).dump()


@app.delete("/projects/<project_id>/invites/<invite_id>")
def revoke_invite(project_id: str, invite_id: str) -> api.Response:
    principal = api.principal(app)
    collaboration.revoke_invite(
        principal, project_id, invite_id, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    return api.Response(status_code=204)


@app.post("/invites/<token>/accept")
def accept_invite(token: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    member = collaboration.accept_invite(
        principal, token, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    metrics.add_metric(name="InvitesAccepted", unit=MetricUnit.Count, value=1)
    return member.dump(), 201


@app.get("/projects/<project_id>/members")
def list_members(project_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    return collaboration.list_members(
        principal,
        project_id,
        collaboration_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    ).dump()


@app.put("/projects/<project_id>/members/<user_id>")
def change_role(project_id: str, user_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    request = api.parse_body(app, RoleInput)
    return collaboration.change_role(
        principal, project_id, user_id, request, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    ).dump()


@app.delete("/projects/<project_id>/members/<user_id>")
def remove_member(project_id: str, user_id: str) -> api.Response:
    principal = api.principal(app)
    collaboration.remove_member(
        principal, project_id, user_id, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    metrics.add_metric(name="MembersRemoved", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
