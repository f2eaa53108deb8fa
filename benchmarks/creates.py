"""How long creates and saves that add many images take against DynamoDB Local (issue 28, item 4).

`python -m benchmarks.creates [--rounds 10] [--files 400] [--added 100] [--as-before]`

Starts DynamoDB Local and SeaweedFS as the local stack does (or uses moto with `--moto`), writes the
images' file items, then calls the real project handler in this process:
- `POST /projects` with `--files` images (a new project each round),
- `PUT /projects/{id}` adding `--added` images to a project of 10 (a new project each round),
and prints p50 / p95 / max in milliseconds of each, with the DynamoDB requests of one call. Figures,
not assertions: compare runs on the same machine (docs/benchmarks.md, "Creates and saves").
`--as-before` sets the concurrency the code had before issue 28 (8 hold changes in flight, one
BatchGetItem at a time), so one checkout measures both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.capacity import BUCKET, ENV, REGION, ROOT, TABLE, local_emulators, project_body


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--added", type=int, default=100)
    parser.add_argument("--moto", action="store_true", help="moto in this process instead of DynamoDB Local")
    parser.add_argument("--as-before", action="store_true", help="8 hold changes, 1 BatchGetItem in flight")
    args = parser.parse_args(argv)

    for name in [n for n in os.environ if n.startswith(("AWS_ENDPOINT_URL", "IMAGESTORE_"))]:
        del os.environ[name]
    os.environ.update(ENV)
    for directory in ("layer", "services/file", "services/project", "services/scheduler", "."):
        sys.path.insert(0, str(ROOT / directory))

    from moto import mock_aws

    with mock_aws() if args.moto else local_emulators():
        return run(args)


def run(args: argparse.Namespace) -> int:
    from imagestore.auth import Principal
    from imagestore.data import factory
    from imagestore.data.clients import dynamodb_client, s3_client
    from tests.support.cfn import create_bucket, create_table
    from tests.support.events import api_event, call
    from tests.support.files import stored_files

    if args.as_before:
        from imagestore.data import holds, table

        holds.IN_FLIGHT, table.BATCH_GETS_IN_FLIGHT = 8, 1
    factory.reset()
    ddb, s3 = dynamodb_client(), s3_client()
    create_table(ddb, TABLE)
    create_bucket(s3, BUCKET, REGION)
    calls: Counter[str] = Counter()
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))

    from project_service.handlers.projects import handler

    def timed(event: dict[str, Any], expect: int) -> tuple[float, Any, Counter[str]]:
        calls.clear()
        started = time.perf_counter()
        status, body = call(handler, event)
        elapsed = (time.perf_counter() - started) * 1000
        if status != expect:
            raise RuntimeError(f"answered {status}: {str(body)[:300]}")
        return elapsed, body, Counter(calls)

    creates: list[float] = []
    saves: list[float] = []
    create_calls = save_calls = Counter[str]()
    for n in range(args.rounds):
        user = Principal("shop-a", f"user{n}", "s1")  # each round in its own partition, as users are
        ids = [f.file_id for f in stored_files(user, args.files + 10 + args.added)]
        elapsed, _, create_calls = timed(
            api_event("POST", "/projects", principal=user, body=project_body(ids[: args.files])), 201
        )
        creates.append(elapsed)
        small = ids[args.files : args.files + 10]
        _, project, _ = timed(api_event("POST", "/projects", principal=user, body=project_body(small)), 201)
        elapsed, _, save_calls = timed(
            api_event(
                "PUT",
                "/projects/{projectId}",
                principal=user,
                body=project_body(small + ids[args.files + 10 :], revision=1),
                path_params={"projectId": project["projectId"]},
                headers={"If-Match": str(project["version"])},
            ),
            200,
        )
        saves.append(elapsed)
        print(f"round {n + 1}: create {creates[-1]:.0f} ms, save {saves[-1]:.0f} ms", file=sys.stderr)

    from imagestore.data import holds, table

    backend = "moto" if args.moto else "DynamoDB Local + SeaweedFS"
    print(
        f"{backend}, {args.rounds} rounds (ms); {holds.IN_FLIGHT} hold changes and "
        f"{table.BATCH_GETS_IN_FLIGHT} BatchGetItem calls in flight"
    )
    print(f"{'operation':40} {'p50':>7} {'p95':>7} {'max':>7}  DynamoDB requests of one call")
    for label, values, used in (
        (f"POST /projects, {args.files} images", creates, create_calls),
        (f"PUT /projects/{{id}}, {args.added} added to 10", saves, save_calls),
    ):
        requests = ", ".join(f"{name} {count}" for name, count in sorted(used.items()))
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{label:40} {p50:7.0f} {p95:7.0f} {max(values):7.0f}  {requests}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
