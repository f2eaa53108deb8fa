"""Every key of the single table is built here, and nowhere else.

Layout (pk / sk):
  user partition  T#{tid}#U#{uid}   FILE#{fileId}                    file
                                    HOLD#{fileId}#{kind}#{holderId}  a holder keeps that file
                                    SHA256#{hex}                     the user's available file of that SHA-256
Index gsi1 (gsi1pk / gsi1sk) and index expiry (xpk / xsk) are filled by the entities that need them.
The expiry index is sharded: xpk = EXP#{nn}, nn derived from the item key, so that expiring
writes spread over `expiry_shards` partitions instead of one.
"""

from __future__ import annotations

import zlib

from imagestore import ids

SEP = "#"


def tenant_user_pk(tenant_id: str, user_id: str) -> str:
    """The partition of everything one user owns."""
    return f"T#{tenant_id}#U#{user_id}"


def parse_tenant_user_pk(pk: str) -> tuple[str, str] | None:
    """(tenant, user) of a user partition key, or None for any other partition."""
    parts = pk.split(SEP)
    if len(parts) != 4 or parts[0] != "T" or parts[2] != "U" or not parts[1] or not parts[3]:
        return None
    return parts[1], parts[3]


def file_sk(file_id: str) -> str:
    return f"FILE#{file_id}"


FILE_PREFIX = "FILE#"


def file_key(tenant_id: str, user_id: str, file_id: str) -> dict[str, str]:
    return {"pk": tenant_user_pk(tenant_id, user_id), "sk": file_sk(file_id)}


def file_digest_key(tenant_id: str, user_id: str, sha256_hex: str) -> dict[str, str]:
    """The pointer from a SHA-256 (lower-case hex) to the user's file of those bytes (duplicates are
    found per user, in the user's own partition)."""
    return {"pk": tenant_user_pk(tenant_id, user_id), "sk": f"SHA256#{sha256_hex}"}


def hold_sk(file_id: str, holder_kind: str, holder_id: str) -> str:
    return f"HOLD#{file_id}#{holder_kind}#{holder_id}"


def hold_prefix(file_id: str) -> str:
    return f"HOLD#{file_id}#"


def expiry_shard_pk(shard: int) -> str:
    """The expiry-index partition number shard."""
    return f"EXP#{shard:02d}"


def expiry_shard(pk: str, sk: str, shards: int) -> str:
    """The expiry-index partition of an item: stable, spread by a CRC of its key."""
    return expiry_shard_pk(zlib.crc32(f"{pk}|{sk}".encode()) % shards)


def expiry_sort(expires_at_epoch: int, pk: str, sk: str) -> str:
    """Sort key in the expiry index: zero-padded epoch first, so a range query finds what is due."""
    return f"{expires_at_epoch:012d}#{pk}#{sk}"


def expiry_sort_epoch(xsk: str) -> int:
    """The epoch an expiry-index sort key (expiry_sort) is due at."""
    return int(xsk.split("#", 1)[0])


def expiry_upper_bound(now_epoch: int) -> str:
    """Every xsk strictly before this is due at now_epoch."""
    return f"{now_epoch + 1:012d}#"


def reconcile_state_key() -> dict[str, str]:
    """The scheduler's bookmark in its page-by-page reconciliation of the bucket (one item, written
    once per run by the scheduler alone)."""
    return {"pk": "SCHEDULER#RECONCILE", "sk": META}


def object_key(tenant_id: str, user_id: str, file_id: str) -> str:
    """The S3 key of a file's bytes."""
    return f"{tenant_id}/{user_id}/{file_id}"


# A client's presigned POST writes a file's bytes to its staging key, never to the key downloads read:
# only the server copies them there, once they are verified, on the ETag it verified (see
# file_service.logic.uploads.complete_upload). The suffix keeps the staging key under the user's
# prefix, where reconciliation deletes it after a day once nothing completes it (no file has that id).
STAGING_SUFFIX = ".upload"


def staging_key(object_key: str) -> str:
    """Where the presigned POST of the file whose bytes live at object_key puts them."""
    return object_key + STAGING_SUFFIX


def object_key_of_staging(key: str) -> str | None:
    """The final object key a staging key belongs to, or None for any other key."""
    return key.removesuffix(STAGING_SUFFIX) if key.endswith(STAGING_SUFFIX) else None


# A file's previews (imagestore.previews.PREVIEW_SIZES) live next to its bytes, under the same user
# prefix: {object_key}.preview.{name}. They are written by the preview function only, and deleted with
# the file's bytes in the same DeleteObjects (image_object_keys).
PREVIEW_INFIX = ".preview."
PREVIEW_NAMES = ("thumb", "screen")


def preview_key(object_key: str, name: str) -> str:
    """Where the preview `name` (thumb, screen) of the file whose bytes live at object_key is stored."""
    if name not in PREVIEW_NAMES:
        raise ValueError(f"no preview named {name!r}")
    return f"{object_key}{PREVIEW_INFIX}{name}"


def image_object_keys(object_key: str) -> list[str]:
    """Every S3 object of one file: its bytes, its upload's staging object and its previews. Whatever
    deletes a file's bytes deletes these, in the same DeleteObjects."""
    return [object_key, staging_key(object_key), *(preview_key(object_key, name) for name in PREVIEW_NAMES)]


def object_key_of_preview(key: str) -> str | None:
    """The object key a preview key belongs to, or None for any other key."""
    base, infix, name = key.rpartition(PREVIEW_INFIX)
    return base if infix and name in PREVIEW_NAMES and base else None


def parse_object_key(key: str) -> tuple[str, str, str] | None:
    """(tenant, user, file id) of an S3 key made by object_key, or None for any other key. A preview's
    key parses as its file's (reconciliation keeps a preview exactly as long as its file's item)."""
    key = object_key_of_preview(key) or key
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    tenant_id, user_id, file_id = parts
    return tenant_id, user_id, file_id


# --- holders: every item that keeps files alive has its own partition -------------------------
# holder partition   META             the holder (project, cart item, order)
#                    FILE#{fileId}    a hold link: this holder keeps that file (denormalized file data)
META = "META"
LINK_PREFIX = "FILE#"


def link_sk(file_id: str) -> str:
    return f"{LINK_PREFIX}{file_id}"


def project_pk(tenant_id: str, project_id: str) -> str:
    return f"T#{tenant_id}#P#{project_id}"


def project_hold_attribute(project_id: str) -> str:
    """The attribute of a file item that records a project's hold on it (imagestore.data.holds):
    the lock epoch that acquired it (> 0), or minus the epoch that released it (< 0)."""
    return f"H#{project_id}"


def project_of_hold_attribute(name: str) -> str | None:
    """The project whose hold a file item's attribute `name` records, or None for any other attribute."""
    return name[2:] if name.startswith("H#") and len(name) > 2 else None


HOLD_ATTRIBUTE_PREFIX = "H#"
PIN_PREFIX = "PIN#"


def pin_key(project_pk_: str, holder_pk: str) -> dict[str, str]:
    """A pin in a project's partition: holder_pk (a cart item, an order, a copy) keeps the files of the
    project version it pinned; while any pin exists the project releases no hold."""
    return {"pk": project_pk_, "sk": f"{PIN_PREFIX}{holder_pk}"}


def projects_of_user(tenant_id: str, user_id: str) -> str:
    """gsi1 partition listing a user's projects by last save."""
    return f"T#{tenant_id}#U#{user_id}#PROJECTS"


def by_time(epoch: int, entity_id: str) -> str:
    """gsi1 sort key: time first (zero-padded), id as tie-break."""
    return f"{epoch:012d}#{entity_id}"


def project_share_sk(share_id: str) -> str:
    """A share's record inside its project's partition (to revoke by id)."""
    return f"SHARE#{share_id}"


SHARE_PREFIX = "SHARE#"


def share_token_pk(tenant_id: str, token_hash: str) -> str:
    """A share looked up by the hash of its token, inside the caller's tenant only."""
    return f"T#{tenant_id}#SHARE#{token_hash}"


def cart_item_pk(tenant_id: str, cart_item_id: str) -> str:
    return f"T#{tenant_id}#CART#{cart_item_id}"


def cart_items_of_user(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#U#{user_id}#CART"


def external_cart_pk(tenant_id: str, external_cart_id: str) -> str:
    """Partition of an external (shop-side) cart: one small pointer item per cart item."""
    return f"T#{tenant_id}#XCART#{external_cart_id}"


def cart_pointer_sk(cart_item_id: str) -> str:
    return f"CART#{cart_item_id}"


def order_pk(tenant_id: str, order_id: str) -> str:
    return f"T#{tenant_id}#ORDER#{order_id}"


def orders_of_user(tenant_id: str, user_id: str) -> str:
    """gsi1 partition listing a user's orders, newest first (gsi1sk: by_time(createdAt, orderId))."""
    return f"T#{tenant_id}#U#{user_id}#ORDERS"


def order_ref_key(tenant_id: str, external_order_ref: str) -> dict[str, str]:
    """Uniqueness item of a shop's order reference (makes POST /orders idempotent)."""
    return {"pk": f"T#{tenant_id}#OREF#{external_order_ref}", "sk": META}


def project_key(tenant_id: str, project_id: str) -> dict[str, str]:
    """A project's META item."""
    return {"pk": project_pk(tenant_id, project_id), "sk": META}


def share_token_key(tenant_id: str, token_hash: str) -> dict[str, str]:
    return {"pk": share_token_pk(tenant_id, token_hash), "sk": META}


def project_share_key(tenant_id: str, project_id: str, share_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": project_share_sk(share_id)}


def cart_item_key(tenant_id: str, cart_item_id: str) -> dict[str, str]:
    return {"pk": cart_item_pk(tenant_id, cart_item_id), "sk": META}


def cart_pointer_key(tenant_id: str, external_cart_id: str, cart_item_id: str) -> dict[str, str]:
    return {"pk": external_cart_pk(tenant_id, external_cart_id), "sk": cart_pointer_sk(cart_item_id)}


CART_POINTER_PREFIX = "CART#"


def order_key(tenant_id: str, order_id: str) -> dict[str, str]:
    return {"pk": order_pk(tenant_id, order_id), "sk": META}


def order_project_sk(project_id: str) -> str:
    """A project frozen into an order (its document in S3 under order_document_key)."""
    return f"PROJECT#{project_id}"


ORDER_PROJECT_PREFIX = "PROJECT#"


def order_resubmission_sk(resubmission_id: str) -> str:
    return f"RESUBMISSION#{resubmission_id}"


def order_manifest_key(tenant_id: str, order_id: str, resubmission_id: str) -> str:
    """S3 key of a resubmission's manifest (what the lab integration fetches)."""
    return f"{tenant_id}/documents/orders/{order_id}/resubmissions/{resubmission_id}.json"


def document_object_key(tenant_id: str, project_id: str, version: int, write_id: str) -> str:
    """S3 key of a project document too large for its item. Each save writes its own object
    (write_id, a new id per save): two saves of the same version never write, or delete, each other's."""
    return f"{tenant_id}/documents/projects/{project_id}/v{version}-{write_id}.json"


def order_document_key(tenant_id: str, order_id: str, project_id: str) -> str:
    """S3 key of a project document frozen into an order."""
    return f"{tenant_id}/documents/orders/{order_id}/{project_id}.json"


def order_frozen_manifest_key(tenant_id: str, order_id: str, project_id: str) -> str:
    """S3 key of the manifest (document and files) of a project version frozen into an order."""
    return f"{tenant_id}/documents/orders/{order_id}/{project_id}.manifest.json"


def cart_item_manifest_key(tenant_id: str, cart_item_id: str) -> str:
    """S3 key of the copy of the project version a cart item pinned (what an order of it freezes)."""
    return f"{tenant_id}/documents/cart-items/{cart_item_id}.manifest.json"


def parse_document_object_key(object_key: str) -> tuple[str, str, int, str] | None:
    """(tenant, project id, version, write id) of an S3 key made by document_object_key, or None
    for any other key."""
    parts = object_key.split("/")
    if len(parts) != 5 or parts[1:3] != ["documents", "projects"] or not parts[0]:
        return None
    tenant_id, project_id, name = parts[0], parts[3], parts[4]
    digits, _, write_id = name.removeprefix("v").removesuffix(".json").partition("-")
    if not (ids.is_id(project_id) and ids.is_id(write_id) and digits.isascii() and digits.isdigit()):
        return None
    version = int(digits)
    if document_object_key(tenant_id, project_id, version, write_id) != object_key:  # v01, 1.json, ...
        return None
    return tenant_id, project_id, version, write_id


def document_owner_key(object_key: str) -> dict[str, str] | None:
    """The key of the item whose `documentKey` names a document object: the project's META for
    document_object_key, the order's PROJECT# item for order_document_key, the RESUBMISSION# item
    for order_manifest_key, the cart item's META (`manifestKey`) for cart_item_manifest_key. The
    exact inverse of those four builders for the ids they are given
    (ids.new_id); None for any other key (images, other shapes, ids not of that form), so that
    what is not recognised is never taken for an orphan."""
    project = parse_document_object_key(object_key)
    if project is not None:
        return project_key(project[0], project[1])
    parts = object_key.split("/")
    if len(parts) == 4 and parts[1:3] == ["documents", "cart-items"] and parts[0]:
        cart_item_id = parts[3].removesuffix(".manifest.json")
        if ids.is_id(cart_item_id) and cart_item_manifest_key(parts[0], cart_item_id) == object_key:
            return cart_item_key(parts[0], cart_item_id)
        return None
    if len(parts) not in (5, 6) or parts[1:3] != ["documents", "orders"] or not parts[0]:
        return None
    tenant_id, order_id = parts[0], parts[3]
    if not ids.is_id(order_id):
        return None
    if len(parts) == 5:
        project_id = parts[4].removesuffix(".json")
        if ids.is_id(project_id) and order_document_key(tenant_id, order_id, project_id) == object_key:
            return {"pk": order_pk(tenant_id, order_id), "sk": order_project_sk(project_id)}
        return None
    resubmission_id = parts[5].removesuffix(".json")
    if (
        parts[4] == "resubmissions"
        and ids.is_id(resubmission_id)
        and order_manifest_key(tenant_id, order_id, resubmission_id) == object_key
    ):
        return {"pk": order_pk(tenant_id, order_id), "sk": order_resubmission_sk(resubmission_id)}
    return None


# --- mobile uploads --------------------------------------------------------------------------
# mobile upload partition  T#{tid}#MU#{id}  META   the mobile upload (token hash, limits, counters)
# index gsi1               T#{tid}#MU#{id}  FILE#{fileId}   the files that arrived through it
#                          (the files themselves stay in their user's partition)
def mobile_upload_pk(tenant_id: str, mobile_upload_id: str) -> str:
    return f"T#{tenant_id}#MU#{mobile_upload_id}"


def mobile_upload_key(tenant_id: str, mobile_upload_id: str) -> dict[str, str]:
    return {"pk": mobile_upload_pk(tenant_id, mobile_upload_id), "sk": META}


def mobile_uploads_of_user(tenant_id: str, user_id: str) -> str:
    """gsi1 partition listing a user's mobile uploads, newest first (gsi1sk: by_time(createdAt, id))."""
    return f"T#{tenant_id}#U#{user_id}#MOBILE"


def mobile_upload_files(tenant_id: str, mobile_upload_id: str) -> str:
    """gsi1 partition listing the files of one mobile upload (gsi1sk: file_sk)."""
    return mobile_upload_pk(tenant_id, mobile_upload_id)


# --- webhooks ---------------------------------------------------------------------------------
# endpoints     T#{tid}#WEBHOOKS             EP#{endpointId}         a tenant's endpoint (url, secrets, status)
# event log     T#{tid}#WHEVT#{eventId}      EVENT                   one event as sent (for replays; TTL)
#   index gsi1  T#{tid}#WHEVENTS             by_time(epoch, eventId) the tenant's events by time
# delivery log  T#{tid}#WHLOG#{endpointId}   {epoch ms:015d}#{attemptId}   one attempt (TTL)
# None of these is a holder (no META sort key): the TTL backstop passes over them.
WEBHOOK_ENDPOINT_PREFIX = "EP#"
WEBHOOK_EVENT_SK = "EVENT"


def webhook_endpoints_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#WEBHOOKS"


def webhook_endpoint_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {"pk": webhook_endpoints_pk(tenant_id), "sk": f"{WEBHOOK_ENDPOINT_PREFIX}{endpoint_id}"}


def webhook_event_key(tenant_id: str, event_id: str) -> dict[str, str]:
    return {"pk": f"T#{tenant_id}#WHEVT#{event_id}", "sk": WEBHOOK_EVENT_SK}


def webhook_events_by_time(tenant_id: str) -> str:
    """gsi1 partition of a tenant's webhook events (gsi1sk: by_time)."""
    return f"T#{tenant_id}#WHEVENTS"


def webhook_attempts_pk(tenant_id: str, endpoint_id: str) -> str:
    return f"T#{tenant_id}#WHLOG#{endpoint_id}"


def webhook_attempt_sk(at_ms: int, attempt_id: str) -> str:
    """Time first (milliseconds, zero-padded), so the newest attempts are a backward Query."""
    return f"{at_ms:015d}#{attempt_id}"


# The tenant registry (imagestore.data.tenants): one partition holding one item per tenant, so that
# `imagestore-admin tenants list` is one Query and the functions' read path is a GetItem on this
# partition only (their IAM grant is conditioned on dynamodb:LeadingKeys = TENANTS_PK).
TENANTS_PK = "TENANTS"


def tenant_registry_key(tenant_id: str) -> dict[str, str]:
    """The registry item of one tenant."""
    return {"pk": TENANTS_PK, "sk": f"TENANT#{tenant_id}"}


# --- idempotency keys ------------------------------------------------------------------------
# idempotency partition  T#{tid}#U#{uid}#IDEM#{sha256 of the client's key}  IDEMPOTENCY
#   one request sent with an Idempotency-Key header: its fingerprint, then its stored answer; removed
#   by TTL (`ttl`) a day after. One partition a key, so no tenant's retries share a partition; scoped
#   by tenant and user, so one user's key never finds another's record.
IDEMPOTENCY_SK = "IDEMPOTENCY"


def idempotency_key(tenant_id: str, user_id: str, key_digest: str) -> dict[str, str]:
    """The record of one Idempotency-Key (key_digest: the hex SHA-256 of the client's key)."""
    return {"pk": f"T#{tenant_id}#U#{user_id}#IDEM#{key_digest}", "sk": IDEMPOTENCY_SK}


# --- collaboration (docs/collaboration.md) ---------------------------------------------------
# project partition  T#{tid}#P#{pid}  META             carries M#{uid} = role of each member (one GetItem
#                                                      decides who may read, save or comment) and memberCount
#                                     MEMBER#{uid}     a member: role, joinedAt, who invited; in gsi1 under
#                                                      the member's projects list (gsi1pk projects_of_user,
#                                                      gsi1sk by_time(joinedAt, pid)), so GET /projects is one Query
#                                     INVITE#{id}      an invite (to revoke by id), companion of the token item
#                                     COMMENTS         the comment counter (the 10,000 limit)
#                                     COMMENT#{id}     a comment (id: time-ordered, so newest first is a backward Query)
#                                     ACT#{id}         a save, a join, a leave, a removal (id: time-ordered)
# invite token       T#{tid}#INVITE#{sha256(token)}  META   looked up by the hash of the token, in the tenant only
MEMBER_PREFIX = "MEMBER#"
INVITE_PREFIX = "INVITE#"
COMMENT_PREFIX = "COMMENT#"
ACTIVITY_PREFIX = "ACT#"
MEMBER_ATTRIBUTE_PREFIX = "M#"


def member_attribute(user_id: str) -> str:
    """The attribute of a project META that names a member's role."""
    return f"{MEMBER_ATTRIBUTE_PREFIX}{user_id}"


def member_key(tenant_id: str, project_id: str, user_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": f"{MEMBER_PREFIX}{user_id}"}


def project_invite_key(tenant_id: str, project_id: str, invite_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": f"{INVITE_PREFIX}{invite_id}"}


def invite_token_key(tenant_id: str, token_hash: str) -> dict[str, str]:
    """An invite looked up by the hash of its token, inside the caller's tenant only."""
    return {"pk": f"T#{tenant_id}#INVITE#{token_hash}", "sk": META}


def comment_counter_key(tenant_id: str, project_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": "COMMENTS"}


def comment_key(tenant_id: str, project_id: str, comment_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": f"{COMMENT_PREFIX}{comment_id}"}


def activity_key(tenant_id: str, project_id: str, activity_id: str) -> dict[str, str]:
    return {"pk": project_pk(tenant_id, project_id), "sk": f"{ACTIVITY_PREFIX}{activity_id}"}
