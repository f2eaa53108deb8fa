"""Fixtures of the deployment tests: the packaged templates (packaged here when missing or stale)."""

from __future__ import annotations

import pytest

from tests.deploy.templates import SERVICES, Template, ensure_packaged, load_template


@pytest.fixture(scope="session")
def packaged() -> None:
    reason = ensure_packaged()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def templates(packaged: None) -> dict[str, Template]:
    return {service: load_template(service) for service in SERVICES}
