"""Access patterns of shares: create with the project's consent, find by token hash, revoke."""

from __future__ import annotations

from imagestore import keys
from imagestore.data.pagination import Page, decode_cursor, encode_cursor
from imagestore.data.table import Table
from imagestore.errors import NotFound, TransactionConflict
from imagestore.models.projects import ProjectStatus
from imagestore.models.shares import ShareRecord


class ShareStore:
    """Shares of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def add_share(self, record: ShareRecord, now: int) -> None:
        """Write both items of a share, if the project is still the owner's and live (else 404).

        One transaction: the token item, the project's SHARE# item, and a check of the project's
        META, so a share never lands on a project being deleted.
        """
        project_key = keys.project_key(record.tenant_id, record.project_id)
        try:
            self.table.transact_write(
                [
                    {
                        "Put": {
                            "Item": record.to_token_item(self.expiry_shards),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"Item": record.to_project_item(), "ConditionExpression": "attribute_not_exists(pk)"}},
                    {
                        "ConditionCheck": {
                            "Key": project_key,
                            "ConditionExpression": "userId = :owner AND #status = :active AND expiresAt > :now",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":owner": record.owner_id,
                                ":now": now,
                                ":active": ProjectStatus.ACTIVE.value,
                            },
                        }
                    },
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[2:3] == ["ConditionalCheckFailed"]:
                raise NotFound(f"project {record.project_id} not found") from None
            raise

    def find_by_token_hash(self, tenant_id: str, token_hash: str) -> ShareRecord | None:
        """The share a token's hash names, within the tenant (one GetItem)."""
        item = self.table.get(keys.share_token_key(tenant_id, token_hash))
        return ShareRecord.from_item(item) if item else None

    def list_project_shares(self, tenant_id: str, project_id: str, *, limit: int, cursor: str | None) -> Page:
        """A project's shares, by id (its partition's SHARE# items: one Query a page)."""
        pk = keys.project_pk(tenant_id, project_id)
        start = decode_cursor(cursor, exact={"pk": pk}, prefixes={"sk": keys.SHARE_PREFIX})
        items, last = self.table.query_page(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": pk, ":prefix": keys.SHARE_PREFIX},
            limit=limit,
            start_key=start,
        )
        return Page(items=[ShareRecord.from_item(i) for i in items], next_cursor=encode_cursor(last))

    def get_project_share(self, tenant_id: str, project_id: str, share_id: str) -> ShareRecord | None:
        item = self.table.get(keys.project_share_key(tenant_id, project_id, share_id))
        return ShareRecord.from_item(item) if item else None

    def revoke(self, record: ShareRecord) -> None:
        """Delete both items of the share in one transaction; 404 if it is already gone."""
        try:
            self.table.transact_write(
                [
                    {"Delete": {"Key": record.project_item_key, "ConditionExpression": "attribute_exists(pk)"}},
                    {"Delete": {"Key": record.token_key}},
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound(f"share {record.share_id} not found") from None
            raise
