"""POST/GET /projects, GET/PUT/DELETE /projects/{projectId}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock, idempotency, preconditions
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.models.projects import ProjectRecord
from imagestore.observability import lambda_handler, logger, metrics
from project_service.logic import projects
from project_service.logic.context import project_context
from project_service.models import ProjectInput, ProjectPage, ProjectSummary

app = api.create_app()


@app.post("/projects", middlewares=[idempotency.idempotent])
def create_project() -> api.Response:
    principal = api.principal(app)
    request = api.parse_body(app, ProjectInput)
    view = projects.create_project(principal, request, project_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="ProjectsCreated", unit=MetricUnit.Count, value=1)
    return api.versioned(view, view.version, 201)


@app.get("/projects")
def list_projects() -> dict[str, Any]:
    principal = api.principal(app)
    principal.require_full_user()
    page = factory.project_store().list_projects(
        principal.tenant_id,
        principal.user_id,
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    metrics.add_metric(name="ProjectsListed", unit=MetricUnit.Count, value=1)
    now = clock.now_epoch()
    return ProjectPage(
        items=[ProjectSummary.of(p, p.role_of(principal.user_id)) for p in page.items if p.is_live(now)],
        next_cursor=page.next_cursor,
    ).dump()


@app.get("/projects/<project_id>")
def get_project(project_id: str) -> api.Response:
    principal = api.principal(app)
    found = projects.get_project(
        principal,
        project_id,
        project_context(principal.tenant_id),
        int(clock.now_epoch()),
        app.current_event.get_query_string_value("filesCursor"),
        app.current_event.headers.get("if-none-match"),
    )
    if isinstance(found, ProjectRecord):  # If-None-Match named the current version
        metrics.add_metric(name="ProjectsNotModified", unit=MetricUnit.Count, value=1)
        return api.not_modified(found.version)
    metrics.add_metric(name="ProjectsLoaded", unit=MetricUnit.Count, value=1)
    return api.versioned(found, found.version)


@app.put("/projects/<project_id>")
def update_project(project_id: str) -> api.Response:
    principal = api.principal(app)
    request = api.parse_body(app, ProjectInput)
    # 428 without If-Match, 400 unless it names a version of ASCII digits; the logic gets the number.
    version = preconditions.parse_if_match(app.current_event.headers.get("if-match"))
    try:
        view = projects.update_project(
            principal, project_id, request, str(version), project_context(principal.tenant_id), int(clock.now_epoch())
        )
    except projects.VersionConflict as conflict:  # 412 with the current version and its ETag: merge, retry
        metrics.add_metric(name="ProjectSaveConflicts", unit=MetricUnit.Count, value=1)
        answer = api.error_response(412, conflict.code, conflict.message, conflict.details)
        answer.headers["ETag"] = preconditions.etag(conflict.current.version)
        return answer
    metrics.add_metric(name="ProjectsSaved", unit=MetricUnit.Count, value=1)
    return api.versioned(view, view.version)


@app.delete("/projects/<project_id>")
def delete_project(project_id: str) -> api.Response:
    principal = api.principal(app)
    projects.delete_project(
        principal,
        project_id,
        project_context(principal.tenant_id),
        int(clock.now_epoch()),
    )
    logger.info("project deleted", project_id=project_id)
    metrics.add_metric(name="ProjectsDeleted", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
