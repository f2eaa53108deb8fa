"""Every key of the single table is built here, and nowhere else.

Layout (pk / sk):
  user partition  T#{tid}#U#{uid}   FILE#{fileId}                    file
                                    HOLD#{fileId}#{kind}#{holderId}  a holder keeps that file
Index gsi1 (gsi1pk / gsi1sk) and index expiry (xpk / xsk) are filled by the entities that need them.
The expiry index is sharded: xpk = EXP#{nn}, nn derived from the item key, so that expiring
writes spread over `expiry_shards` partitions instead of one.
"""

from __future__ import annotations

import zlib

SEP = "#"


def tenant_user_pk(tenant_id: str, user_id: str) -> str:
    """The partition of everything one user owns."""
    return f"T#{tenant_id}#U#{user_id}"


def file_sk(file_id: str) -> str:
    return f"FILE#{file_id}"


FILE_PREFIX = "FILE#"


def file_key(tenant_id: str, user_id: str, file_id: str) -> dict[str, str]:
    return {"pk": tenant_user_pk(tenant_id, user_id), "sk": file_sk(file_id)}


def hold_sk(file_id: str, holder_kind: str, holder_id: str) -> str:
    return f"HOLD#{file_id}#{holder_kind}#{holder_id}"


def hold_prefix(file_id: str) -> str:
    return f"HOLD#{file_id}#"


def expiry_shard(pk: str, sk: str, shards: int) -> str:
    """The expiry-index partition of an item: stable, spread by a CRC of its key."""
    return f"EXP#{zlib.crc32(f'{pk}|{sk}'.encode()) % shards:02d}"


def expiry_sort(expires_at_epoch: int, pk: str, sk: str) -> str:
    """Sort key in the expiry index: zero-padded epoch first, so a range query finds what is due."""
    return f"{expires_at_epoch:012d}#{pk}#{sk}"


def expiry_upper_bound(now_epoch: int) -> str:
    """Every xsk strictly before this is due at now_epoch."""
    return f"{now_epoch + 1:012d}#"


def object_key(tenant_id: str, user_id: str, file_id: str) -> str:
    """The S3 key of a file's bytes."""
    return f"{tenant_id}/{user_id}/{file_id}"


def parse_object_key(key: str) -> tuple[str, str, str] | None:
    """(tenant, user, file id) of an S3 key made by object_key, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    tenant_id, user_id, file_id = parts
    return tenant_id, user_id, file_id
