"""REQUEST authorizer of every imagestore REST API: verifies the bearer JWT, returns the policy."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore.auth import authorizer_policy, bearer_token, verify_token
from imagestore.config import get_settings
from imagestore.errors import Unauthorized
from imagestore.observability import logger


class GatewayUnauthorized(Exception):
    """API Gateway answers 401 when a Lambda authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    try:
        principal = verify_token(bearer_token(dict(event.headers)), get_settings())
    except Unauthorized as exc:
        logger.info("token refused", reason=exc.message, path=event.path)
        raise GatewayUnauthorized() from exc
    logger.append_keys(tenant_id=principal.tenant_id)
    return authorizer_policy(principal, event.method_arn)
