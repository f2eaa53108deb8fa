"""The handlers the service tests call, each imported once the moto backends are up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Aws


@pytest.fixture
def projects(aws: Aws) -> Any:
    from project_service.handlers.projects import handler

    return handler


@pytest.fixture
def shares(aws: Aws) -> Any:
    from project_service.handlers.shares import handler

    return handler


@pytest.fixture
def carts(aws: Aws) -> Any:
    from project_service.handlers.cart_items import handler

    return handler


@pytest.fixture
def orders(aws: Aws) -> Any:
    from project_service.handlers.orders import handler

    return handler


@pytest.fixture
def files(aws: Aws) -> Any:
    from file_service.handlers.files import handler

    return handler
