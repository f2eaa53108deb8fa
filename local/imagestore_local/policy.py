"""IAM policy evaluation for authorizer results: wildcards, explicit Deny wins, default deny."""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    """Outcome of evaluating a policy for one request."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: * is any run of characters (across ':' and '/'), ? is one character."""
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """True when value matches the IAM wildcard pattern."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def _as_list(value: Any) -> list[str]:
    """A policy element (string or list) as a list of strings."""
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _statement_applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    """True when the statement's action and resource elements cover this request."""
    if "Action" in statement:
        if not any(wildcard_match(pattern, action, ignore_case=True) for pattern in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(wildcard_match(pattern, action, ignore_case=True) for pattern in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        return any(wildcard_match(pattern, resource) for pattern in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(wildcard_match(pattern, resource) for pattern in _as_list(statement["NotResource"]))
    return False


def evaluate_policy(policy: dict[str, Any], resource: str, action: str = "execute-api:Invoke") -> Decision:
    """Evaluate an IAM policy document for (action, resource)."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not _statement_applies(statement, action, resource):
            continue
        effect = str(statement.get("Effect", "")).capitalize()
        if effect == "Deny":
            return Decision.EXPLICIT_DENY
        if effect == "Allow":
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def method_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path without leading slash>."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"
