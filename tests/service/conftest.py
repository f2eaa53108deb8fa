"""The handlers the service tests call, each imported once the moto backends are up."""

from __future__ import annotations

import threading
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


@pytest.fixture
def atomic(aws: Aws) -> Any:
    """DynamoDB applies each request (condition and write, or a whole transaction) atomically; moto
    does not when threads call it at once. A lock around every request restores that for race tests."""
    client = aws.dynamodb
    lock = threading.Lock()
    real = client._make_api_call

    def one_at_a_time(operation: str, params: Any) -> Any:
        with lock:
            return real(operation, params)

    client._make_api_call = one_at_a_time
    yield
    client._make_api_call = real
