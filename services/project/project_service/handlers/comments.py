"""Comments and activity of a project: POST/GET /projects/{projectId}/comments,
PUT/DELETE /projects/{projectId}/comments/{commentId}, GET /projects/{projectId}/activity."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.observability import lambda_handler, metrics
from project_service.logic import collaboration
from project_service.logic.context import project_context
from project_service.models import CommentInput, CommentUpdate

app = api.create_app()


def collaboration_context(tenant_id: str) -> collaboration.CollaborationContext:
    return collaboration.CollaborationContext(
        project=project_context(tenant_id),
        collaboration=factory.collaboration_store(),
        public_base_url=get_settings().public_base_url,
    )


@app.post("/projects/<project_id>/comments")
def add_comment(project_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, CommentInput)
    view = collaboration.add_comment(
        principal, project_id, request, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    metrics.add_metric(name="CommentsAdded", unit=MetricUnit.Count, value=1)
    return view.dump(), 201


@app.get("/projects/<project_id>/comments")
def list_comments(project_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    return collaboration.list_comments(
        principal,
        project_id,
        collaboration_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    ).dump()


@app.put("/projects/<project_id>/comments/<comment_id>")
def update_comment(project_id: str, comment_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    request = api.parse_body(app, CommentUpdate)
    return collaboration.update_comment(
        principal, project_id, comment_id, request, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    ).dump()


@app.delete("/projects/<project_id>/comments/<comment_id>")
def delete_comment(project_id: str, comment_id: str) -> api.Response:
    principal = api.principal(app)
    collaboration.delete_comment(
        principal, project_id, comment_id, collaboration_context(principal.tenant_id), int(clock.now_epoch())
    )
    return api.Response(status_code=204)


@app.get("/projects/<project_id>/activity")
def activity(project_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    return collaboration.activity(
        principal,
        project_id,
        collaboration_context(principal.tenant_id),
        int(clock.now_epoch()),
        since=app.current_event.get_query_string_value("since"),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    ).dump()


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
