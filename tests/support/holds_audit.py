"""A whole-table audit of holds (invariant 1), for tests that race writers and then look at everything.

Reads every item of the table (a Scan: tests only) and the manifests in the bucket, and returns the
violations it finds, as sentences (an empty list: the table is consistent):
- every file a live project's current version lists exists, is available, and is kept: held by that
  project (H#{projectId} > 0 on the file) or, for a copy, by the original it pins (recursively);
- every file an order froze is kept by the project the order pins;
- a file's holdCount equals its holds (H# attributes > 0) plus the legacy links that name it;
- no hold without a holder: H#{projectId} > 0 only while that project's META exists, and, once the
  project is quiet (no lock), exactly on the files its manifest says it holds (`held`: a pinned
  project keeps every file of the versions its pins name there);
- a project's pinCount equals its PIN# items, each pin's holder exists, and each holder's pin exists
  (a cart item's or a frozen order project's pinKey, a copy's pin on its original);
- TTL never takes what is kept: a held file (holdCount > 0) and a pinned project have no `ttl`, and
  no item's `ttl` comes before its `expiresAt` plus the grace week (a write that moved the expiry moved
  the TTL with it);
- nothing unheld escapes deletion: a file with holdCount 0 is in the expiry index (xpk, xsk) and has
  its TTL back (the backstop).
Run it when the writers are done (a save in flight legitimately holds files its version does not list yet).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from imagestore.models.files import TTL_GRACE_SECONDS

_deserializer = TypeDeserializer()


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend({k: _deserializer.deserialize(v) for k, v in i.items()} for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_json(s3: Any, bucket: str, key: str) -> Any | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None
    except Exception as exc:  # S3-compatible stores differ in the code of a missing key
        if "NoSuchKey" in str(exc) or "404" in str(exc) or "Not Found" in str(exc):
            return None
        raise


def audit(dynamodb: Any, s3: Any, table: str, bucket: str, now: int) -> list[str]:
    """The violations of invariant 1 in the table (see the module doc)."""
    items = scan(dynamodb, table)
    problems: list[str] = []
    files: dict[tuple[str, str], dict[str, Any]] = {}  # (tenant, fileId) -> file item
    projects: dict[tuple[str, str], dict[str, Any]] = {}  # (tenant, projectId) -> META
    pins: dict[str, list[dict[str, Any]]] = defaultdict(list)  # project pk -> PIN items
    links: Counter[tuple[str, str]] = Counter()
    holder_pks: set[str] = set()
    frozen: list[dict[str, Any]] = []
    pin_keys: set[tuple[str, str]] = set()
    pinning: list[tuple[str, dict[str, Any]]] = []  # (what, pinKey) of holders that pin a project
    for item in items:
        entity = item.get("entity")
        if "ttl" in item and "expiresAt" in item and int(item["ttl"]) < int(item["expiresAt"]) + TTL_GRACE_SECONDS:
            problems.append(
                f"{entity} {item['pk']}/{item['sk']}: ttl {item['ttl']} before its expiry "
                f"{item['expiresAt']} + grace (DynamoDB would delete it early)"
            )
        if entity == "file":
            files[(item["tenantId"], item["fileId"])] = item
        elif entity == "project":
            projects[(item["tenantId"], item["projectId"])] = item
            holder_pks.add(item["pk"])
        elif entity == "pin":
            pins[item["pk"]].append(item)
            pin_keys.add((item["pk"], item["sk"]))
        elif entity == "hold":
            links[(item["tenantId"], item["fileId"])] += 1
        elif entity == "orderProject":
            frozen.append(item)
        if item.get("sk") == "META" and entity in ("cartItem", "order"):
            holder_pks.add(item["pk"])
        if item.get("pinKey") and entity in ("cartItem", "orderProject"):
            pinning.append((f"{entity} {item['pk']}/{item['sk']}", item["pinKey"]))

    manifests: dict[tuple[str, str], dict[str, Any]] = {}
    for key, meta in projects.items():
        if meta.get("manifestKey"):
            manifest = read_json(s3, bucket, meta["manifestKey"])
            if manifest is None:
                problems.append(f"project {key[1]}: manifest {meta['manifestKey']} is missing")
            else:
                manifests[key] = manifest

    def hold_mark(tenant: str, file_id: str, project_id: str) -> int:
        file = files.get((tenant, file_id))
        return int(file.get(f"H#{project_id}", 0)) if file else 0

    def kept(tenant: str, project_id: str, file_id: str, depth: int = 0) -> bool:
        if hold_mark(tenant, file_id, project_id) > 0:
            return True
        meta = projects.get((tenant, project_id))
        base = meta.get("baseProjectId") if meta else None
        if base is None or depth > 20 or meta is None:
            return False
        pinned = any(p["holderPk"] == meta["pk"] for p in pins.get(f"T#{tenant}#P#{base}", []))
        return pinned and kept(tenant, base, file_id, depth + 1)

    for (tenant, project_id), meta in projects.items():
        manifest = manifests.get((tenant, project_id))
        live = meta.get("status") == "active" and int(meta["expiresAt"]) > now
        if live and manifest is not None:
            for ref in manifest["files"]:
                file = files.get((tenant, ref["file_id"]))
                if file is None:
                    problems.append(f"project {project_id} lists file {ref['file_id']}, which is gone")
                elif file.get("status") != "available" or int(file.get("holdCount", 0)) < 1:
                    problems.append(
                        f"project {project_id} lists file {ref['file_id']}, which is "
                        f"{file.get('status')} with holdCount {file.get('holdCount')}"
                    )
                elif file.get("userId") != ref.get("owner_id", file.get("userId")):
                    problems.append(
                        f"project {project_id} lists file {ref['file_id']} as {ref.get('owner_id')}'s, "
                        f"which is {file.get('userId')}'s"
                    )
                elif not kept(tenant, project_id, ref["file_id"]):
                    problems.append(f"project {project_id} lists file {ref['file_id']}, which nothing keeps for it")
        if not meta.get("lockId") and manifest is not None:
            own = set(manifest.get("held", []))
            holding = {
                file_id
                for (file_tenant, file_id), file in files.items()
                if file_tenant == tenant and int(file.get(f"H#{project_id}", 0)) > 0
            }
            for file_id in sorted(holding - own):
                problems.append(f"file {file_id} is held by project {project_id}, whose manifest does not hold it")
            for file_id in sorted(own - holding):
                problems.append(
                    f"project {project_id}'s manifest holds file {file_id}, which the project does not hold"
                )
        if meta.get("baseProjectId") and not meta.get("lockId"):
            pinning.append(
                (f"copy {project_id}", {"pk": f"T#{tenant}#P#{meta['baseProjectId']}", "sk": f"PIN#{meta['pk']}"})
            )
        pin_items = pins.get(meta["pk"], [])
        if int(meta.get("pinCount", 0)) != len(pin_items):
            problems.append(f"project {project_id}: pinCount {meta.get('pinCount', 0)} but {len(pin_items)} PIN items")
        if int(meta.get("pinCount", 0)) > 0 and "ttl" in meta:
            problems.append(f"project {project_id} is pinned but has a TTL (DynamoDB would delete it)")
        for pin in pin_items:
            if pin["holderPk"] not in holder_pks:
                problems.append(f"project {project_id} is pinned by {pin['holderPk']}, which does not exist")

    for what, pin_key in pinning:
        if (pin_key["pk"], pin_key["sk"]) not in pin_keys:
            problems.append(f"{what} names pin {pin_key['pk']}/{pin_key['sk']}, which does not exist")

    for item in frozen:
        if not item.get("pinKey"):
            continue
        # The frozen version's manifest (manifestKey); orders of the first holds v2 shape kept it as documentKey.
        manifest_key = item.get("manifestKey") or item["documentKey"]
        manifest = read_json(s3, bucket, manifest_key)
        if not isinstance(manifest, dict) or "files" not in manifest:
            problems.append(f"order {item['orderId']}: frozen manifest {manifest_key} is missing")
            continue
        for ref in manifest["files"]:
            if not kept(item["tenantId"], item["projectId"], ref["file_id"]):
                problems.append(f"order {item['orderId']} froze file {ref['file_id']}, which nothing keeps for it")

    for (tenant, file_id), file in files.items():
        marks = {name[2:]: int(value) for name, value in file.items() if name.startswith("H#")}
        holds = sum(1 for value in marks.values() if value > 0)
        expected = holds + links[(tenant, file_id)]
        if int(file.get("holdCount", 0)) != expected:
            problems.append(
                f"file {file_id}: holdCount {file.get('holdCount', 0)} but {holds} holds "
                f"and {links[(tenant, file_id)]} links"
            )
        for project_id, value in marks.items():
            if value > 0 and (tenant, project_id) not in projects:
                problems.append(f"file {file_id} is held by project {project_id}, which does not exist")
        if int(file.get("holdCount", 0)) > 0 and "ttl" in file:
            problems.append(
                f"file {file_id} is held (holdCount {file.get('holdCount')}) but has a TTL (DynamoDB would delete it)"
            )
        if int(file.get("holdCount", 0)) <= 0:
            if not (file.get("xpk") and file.get("xsk")):
                problems.append(f"file {file_id} is unheld but not in the expiry index (nothing would delete it)")
            if "ttl" not in file:
                problems.append(f"file {file_id} is unheld but has no TTL (the backstop)")
    return problems
