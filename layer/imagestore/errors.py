"""Domain errors. They say what went wrong in the domain; imagestore.api maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client can be told about."""

    code = "error"
    retryable = False  # the same request may succeed a moment later: the answer carries Retry-After

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(DomainError):
    """The request is malformed (bad JSON, bad field, bad cursor)."""

    code = "bad_request"


class InvalidCursor(BadRequest):
    """A pagination cursor that this caller did not receive."""

    code = "invalid_cursor"


class RefusedByTable(BadRequest):
    """DynamoDB refused a request built from client input (ValidationException): never a 500."""

    code = "bad_request"


class Unauthorized(DomainError):
    """No valid credentials."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials that do not allow this operation."""

    code = "forbidden"


class TenantDisabled(Forbidden):
    """The caller's tenant is disabled in the tenant registry."""

    code = "tenant_disabled"


class UnknownTenant(Forbidden):
    """The caller's tenant is not in the tenant registry of a stage that refuses unknown tenants."""

    code = "unknown_tenant"


class TenantMisconfigured(Forbidden):
    """The tenant's registry entry does not validate (written around `imagestore-admin`)."""

    code = "tenant_misconfigured"


class NotFound(DomainError):
    """No such resource for this caller (also what other tenants and users see)."""

    code = "not_found"


class Conflict(DomainError):
    """The resource's state does not allow the operation (e.g. a held file)."""

    code = "conflict"


class PreconditionFailed(DomainError):
    """If-Match named a version that is no longer current."""

    code = "precondition_failed"


class PreconditionRequired(DomainError):
    """The operation needs If-Match."""

    code = "precondition_required"


class PayloadTooLarge(DomainError):
    """Declared or actual size over the tenant's limit."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    """A content type the tenant does not accept."""

    code = "unsupported_media_type"


class Unprocessable(DomainError):
    """Well-formed but semantically wrong (content is not the declared image type, unknown file ids)."""

    code = "unprocessable"


class IdempotencyKeyReused(Unprocessable):
    """An Idempotency-Key sent again with another request (method, path or body) than its first."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(Conflict):
    """The first request with this Idempotency-Key is still running; retry to get its answer."""

    code = "idempotency_key_in_use"
    retryable = True


class Throttled(DomainError):
    """The backend throttled us; the client may retry."""

    code = "throttled"


class Unavailable(DomainError):
    """The backend failed (DynamoDB InternalServerError, S3 InternalError or ServiceUnavailable); the client
    may retry."""

    code = "unavailable"
    retryable = True


class ConditionFailed(Exception):
    """A conditional write did not apply (data layer; logic turns it into a domain error)."""


class TransactionConflict(Exception):
    """A transaction was cancelled; reasons per item in order ('None' when that item was fine).

    The data layer and logic turn the reasons they expect into domain errors; one that reaches the
    API is a 409 with Retry-After (a concurrent change to the same items won: retrying may succeed)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons
