"""imagestore-local: run the local stack, reset its data, mint tokens, put events."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import uuid
import warnings
from pathlib import Path

from imagestore_local.config_loader import find_root


def mint_token(
    tenant: str,
    user: str,
    session: str | None = None,
    scope: str | None = None,
    ttl: int = 3600,
    secret: str | None = None,
) -> str:
    """An HS256 JWT as the local authorizer expects it."""
    import jwt

    from imagestore_local.app import DEFAULT_JWT_SECRET, JWT_DEFAULTS

    now = int(time.time())  # real time: PyJWT checks exp/iat against the wall clock, not the local offset
    claims: dict[str, object] = {
        "sub": user,
        "tid": tenant,
        "sid": session or f"s-{uuid.uuid4().hex[:16]}",
        "iat": now,
        "exp": now + ttl,
        "iss": os.environ.get("IMAGESTORE_JWT_ISSUER") or JWT_DEFAULTS["IMAGESTORE_JWT_ISSUER"],
        "aud": os.environ.get("IMAGESTORE_JWT_AUDIENCE") or JWT_DEFAULTS["IMAGESTORE_JWT_AUDIENCE"],
    }
    if scope:
        claims["scope"] = scope
    key = secret or os.environ.get("IMAGESTORE_JWT_SECRET") or DEFAULT_JWT_SECRET
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local default secret is shorter than 32 bytes
        return jwt.encode(claims, key, algorithm="HS256")


def _setup_logging(verbose: bool) -> None:
    level = (
        logging.DEBUG
        if verbose
        else getattr(logging, os.environ.get("IMAGESTORE_LOCAL_LOG_LEVEL", "INFO").upper(), logging.INFO)
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    if os.environ.get("IMAGESTORE_LOCAL_ACCESS_LOG", "1") != "0":
        logging.getLogger("werkzeug").setLevel(logging.INFO)
    logging.getLogger("werkzeug").addFilter(_redact_share_tokens)


def _redact_share_tokens(record: logging.LogRecord) -> bool:
    """The access log's request lines without share tokens (bearer secrets in the path)."""
    from imagestore_local.gateway import redact_path

    if isinstance(record.args, tuple):
        record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
    record.msg = redact_path(record.msg) if isinstance(record.msg, str) else record.msg
    return True


def _cmd_run(args: argparse.Namespace) -> int:
    from imagestore_local.app import run

    return run(port=args.port, stage=args.stage, concurrency=args.concurrency)


def _cmd_reset(args: argparse.Namespace) -> int:
    from imagestore_local.app import data_dir

    folder = data_dir(find_root())
    if not folder.exists():
        print(f"{folder} does not exist; nothing to reset")
        return 0
    running = _running_pid(folder)
    if running and not args.force:
        print(f"a stack (pid {running}) is using {folder}; stop it first (or --force)", file=sys.stderr)
        return 1
    shutil.rmtree(folder)
    print(f"deleted {folder}")
    return 0


def _running_pid(folder: Path) -> int | None:
    """The pid in <data>/stack.json when that process is alive."""
    try:
        pid = int(json.loads((folder / "stack.json").read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return None
    return pid


def _cmd_token(args: argparse.Namespace) -> int:
    print(mint_token(args.tenant, args.user, args.session, args.scope, args.ttl))
    return 0


def _base_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    if os.environ.get("IMAGESTORE_LOCAL_URL"):
        return os.environ["IMAGESTORE_LOCAL_URL"].rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('PORT', '3000')}"


def _cmd_webhook_listen(args: argparse.Namespace) -> int:
    from imagestore_local.webhook_listen import listen

    token = mint_token(args.tenant, "webhook-listen", scope="webhooks", ttl=86400)
    events = [e.strip() for e in args.events.split(",") if e.strip()] if args.events else None
    return listen(_base_url(args.url), token, args.port, events, sys.stdout)


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: object) -> int:
    """One request to the running stack; prints its answer; 0 when it succeeded (PutEvents: every entry)."""
    import requests

    response = requests.request(method, f"{_base_url(args.url)}{path}", timeout=900, **kwargs)  # type: ignore[arg-type]
    try:
        body = response.json()
    except ValueError:
        body = response.text
    print(json.dumps(body, indent=2) if not isinstance(body, str) else body)
    return 0 if response.ok and not (isinstance(body, dict) and body.get("FailedEntryCount")) else 1


def _cmd_events_put(args: argparse.Namespace) -> int:
    try:
        json.loads(args.detail)
    except json.JSONDecodeError as exc:
        print(f"--detail is not JSON: {exc}", file=sys.stderr)
        return 2
    entry: dict[str, object] = {"Source": args.source, "DetailType": args.detail_type, "Detail": args.detail}
    if args.event_bus:
        entry["EventBusName"] = args.event_bus
    return _call(args, "POST", "/_local/events", json={"Entries": [entry]}, params={"wait": "1"} if args.wait else None)


def _cmd_logout(args: argparse.Namespace) -> int:
    """Send the shop's UserLoggedOut event and wait for the scheduler's logout function."""
    detail = json.dumps({"tenantId": args.tenant, "userId": args.user, "sessionId": args.session})
    return _cmd_events_put(
        argparse.Namespace(
            source=args.source, detail_type="UserLoggedOut", detail=detail, event_bus=None, wait=True, url=args.url
        )
    )


def _cmd_clock(args: argparse.Namespace) -> int:
    if args.advance is None and args.set is None:
        return _call(args, "GET", "/_local/clock")
    body = {"advanceSeconds": args.advance} if args.advance is not None else {"offsetSeconds": args.set}
    return _call(args, "POST", "/_local/clock", json=body)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="imagestore-local", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the whole stack in the foreground (Ctrl-C stops it)")
    run.add_argument("--port", type=int, default=None, help="API port (default $PORT or 3000)")
    run.add_argument("--stage", default="local", help="stage for ${sls:stage} (default local)")
    run.add_argument(
        "--concurrency",
        default=None,
        help="worker processes per function: N, or N,service/function=M,... "
        "(default $IMAGESTORE_LOCAL_CONCURRENCY or 4)",
    )
    run.set_defaults(func=_cmd_run)

    reset = commands.add_parser("reset", help="delete the local data folder")
    reset.add_argument("--force", action="store_true", help="even when a stack seems to be using it")
    reset.set_defaults(func=_cmd_reset)

    token = commands.add_parser("token", help="print an HS256 JWT for the local stack")
    token.add_argument("--tenant", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--session", default=None, help="sid claim (default: random)")
    token.add_argument("--scope", default=None, help="scope claim (space separated scopes)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until exp (default 3600)")
    token.set_defaults(func=_cmd_token)

    events = commands.add_parser("events", help="EventBridge of the running stack")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    put = events_commands.add_parser("put", help="put one event (PutEvents)")
    put.add_argument("--source", required=True)
    put.add_argument("--detail-type", required=True)
    put.add_argument("--detail", default="{}", help="JSON detail")
    put.add_argument("--event-bus", default=None)
    put.add_argument("--wait", action="store_true", help="wait for the targets and print their results")
    put.add_argument("--url", default=None, help="stack URL (default $IMAGESTORE_LOCAL_URL or :$PORT/3000)")
    put.set_defaults(func=_cmd_events_put)

    logout = commands.add_parser("logout", help="send UserLoggedOut: the session's unsaved uploads go at once")
    logout.add_argument("--tenant", required=True)
    logout.add_argument("--user", required=True)
    logout.add_argument("--session", required=True, help="the sid of the session that ended")
    logout.add_argument("--source", default="shop", help="event source (default shop, as the rule expects)")
    logout.add_argument("--url", default=None)
    logout.set_defaults(func=_cmd_logout)

    invoke = commands.add_parser("invoke", help="invoke a function of the running stack with a JSON event")
    invoke.add_argument("service")
    invoke.add_argument("function")
    invoke.add_argument("--event", default="{}")
    invoke.add_argument("--url", default=None)
    invoke.set_defaults(
        func=lambda a: _call(
            a,
            "POST",
            f"/_local/functions/{a.service}/{a.function}/invoke",
            data=a.event,
            headers={"Content-Type": "application/json"},
        )
    )

    ttl = commands.add_parser(
        "ttl", help="delete the items whose TTL has passed now, as DynamoDB's TTL would, and run the stream's functions"
    )
    ttl.add_argument("--url", default=None)
    ttl.set_defaults(func=lambda a: _call(a, "POST", "/_local/ttl"))

    listen = commands.add_parser(
        "webhook-listen",
        help="a receiver on 127.0.0.1 registered as a tenant's webhook "
        "endpoint, printing each verified event (Ctrl-C stops and deletes the endpoint)",
    )
    listen.add_argument("--tenant", default="t1")
    listen.add_argument("--port", type=int, default=0, help="receiver port (default: a free one)")
    listen.add_argument("--events", default=None, help="comma-separated event types (default: all)")
    listen.add_argument("--url", default=None)
    listen.set_defaults(func=_cmd_webhook_listen)

    clock = commands.add_parser("clock", help="show or move the running stack's clock")
    clock.add_argument("--advance", type=float, default=None, help="seconds to move forward")
    clock.add_argument("--set", type=float, default=None, help="absolute offset in seconds")
    clock.add_argument("--url", default=None)
    clock.set_defaults(func=_cmd_clock)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the imagestore-local console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
