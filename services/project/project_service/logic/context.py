"""The project service's dependencies, built from the layer's factories.

Every function works on projects; each handler adds the stores of its own resource to this context
(so that a function imports only its own rules and stores: cold start)."""

from __future__ import annotations

from imagestore import tenants
from imagestore.data import factory
from project_service.logic.projects import ProjectContext


def project_context(tenant_id: str) -> ProjectContext:
    return ProjectContext(
        tenant=tenants.tenant_settings(tenant_id),
        files=factory.file_store(),
        holds=factory.hold_store(),
        projects=factory.project_store(),
        bucket=factory.image_bucket(),
        holders=factory.holder_store(),
        collaboration=factory.collaboration_store(),
    )
