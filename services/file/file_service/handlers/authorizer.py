"""REQUEST authorizer of every imagestore REST API: verifies the bearer JWT, or a phone's
mobile-upload capability token, and returns the policy."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock, ratelimit, startup
from imagestore.auth import (
    Principal,
    authorizer_policy,
    bearer_token,
    is_mobile_upload_token,
    usage_identifier_key,
    verify_mobile_upload_token,
    verify_token,
)
from imagestore.config import get_settings
from imagestore.errors import DomainError, Unauthorized
from imagestore.observability import logger


class GatewayUnauthorized(Exception):
    """API Gateway answers 401 when a Lambda authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@startup.resume_gc_after_first_call
@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    try:
        principal = _verify(bearer_token(dict(event.headers)))
    except Unauthorized as exc:
        # The resource template (/shares/{token}), never the path: a share token in it is a secret.
        logger.info("token refused", reason=exc.message, resource=event.resource)
        raise GatewayUnauthorized() from exc
    logger.append_keys(tenant_id=principal.tenant_id)
    settings = get_settings()
    plan = _usage_plan(principal.tenant_id)
    answer = authorizer_policy(principal, event.method_arn)
    # The plan's RateLimit-Policy, which the functions copy onto their answers (imagestore.ratelimit).
    rate_limit_policy = ratelimit.plan_policy(settings.usage_plan_limits.get(plan or ""))
    if rate_limit_policy:
        answer["context"][ratelimit.POLICY_CONTEXT_KEY] = rate_limit_policy
    # API Gateway counts the request against this key's usage plan (API key source AUTHORIZER).
    return {**answer, "usageIdentifierKey": usage_identifier_key(settings.stage, event.resource, plan)}


def _usage_plan(tenant_id: str) -> str | None:
    """The tenant's plan from the registry (cached), when this stage deploys it; else None (shared).
    Whether the tenant may call at all is the functions' check (imagestore.api.principal): this answer
    is cached by API Gateway for the authorizer's resultTtlInSeconds."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from imagestore import tenants  # the registry's read path brings boto3: not on the import path

    try:
        record = tenants.tenant_record(tenant_id)
    except (DomainError, GetParameterError) as exc:
        # The caller still gets in (on the shared plan): the registry's outage is not the caller's.
        logger.warning("tenant registry not read; shared usage plan", reason=str(exc))
        return None
    plan = record.usage_plan if record is not None else None
    if plan is not None and plan not in get_settings().usage_plans:
        logger.warning("tenant's usage plan is not deployed on this stage; shared usage plan", plan=plan)
        return None
    return plan


def _verify(token: str) -> Principal:
    """A JWT is checked without any AWS call; a mobile-upload token costs one GetItem."""
    if is_mobile_upload_token(token):
        # Imported here: only the phone's tokens need the table (and boto3) on this cold path.
        from imagestore.data import factory

        return verify_mobile_upload_token(token, factory.mobile_upload_store().get_mobile_upload, clock.now_epoch())
    return verify_token(token, get_settings())
