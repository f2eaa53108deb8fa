"""Invariants 1 and 2 under random sequences of what users and the scheduler do.

A hypothesis state machine uploads (and abandons uploads), saves, edits, loads and deletes projects,
puts projects into the cart and takes them out, deletes files, logs out, moves the clock and sweeps,
through the same logic the handlers call, against moto. After every step: every image a live holder
or an unexpired session keeps is readable (item and bytes); after every sweep: no image that nothing
keeps outlived its retention. Orders and share copies are covered by tests/service/test_scheduler.py
and the project service's tests, not (yet) by this machine.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from imagestore.auth import Principal
from imagestore.config import TenantSettings
from imagestore.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from imagestore.models.files import pending_deadline
from tests.conftest import BUCKET, Aws
from tests.support.cfn import resources_of_type
from tests.support.images import jpeg

SHARDS = 4
TENANT = TenantSettings()
HOUR = 3600
DAY = 86400
IMAGE = jpeg()
_examples = itertools.count()
((_, TABLE_DEFINITION),) = resources_of_type("file", "AWS::DynamoDB::Table").items()


def create_table(client: Any, name: str) -> None:
    """The table of services/file/serverless.yml (parsed once: a fresh table for every example)."""
    props = TABLE_DEFINITION["Properties"]
    client.create_table(TableName=name, BillingMode=props["BillingMode"],
                        AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"],
                        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"])


@dataclass
class FileModel:
    file_id: str
    session_id: str
    expires_at: int
    created_at: int
    pending: bool = False
    deleted: bool = False


@dataclass
class ProjectModel:
    project_id: str
    version: int
    expires_at: int
    file_ids: set[str] = field(default_factory=set)


class Retention(RuleBasedStateMachine):
    """One tenant, one user, a browser session that logging out replaces."""

    aws: Aws

    projects_bundle = Bundle("projects")
    files_bundle = Bundle("files")
    cart_bundle = Bundle("cart_items")

    def __init__(self) -> None:
        super().__init__()
        from file_service.logic.uploads import UploadContext
        from imagestore.data.expiry import ExpiryStore
        from imagestore.data.files import FileStore
        from imagestore.data.holders import HolderStore
        from imagestore.data.holds import HoldStore
        from imagestore.data.projects import ProjectStore
        from imagestore.data.storage import ImageBucket
        from imagestore.data.table import Table
        from project_service.logic.projects import ProjectContext
        from scheduler_service.logic.sweep import SweepContext

        number = next(_examples)
        self.table_name = f"stateful-{number}"
        create_table(self.aws.dynamodb, self.table_name)
        table = Table(self.aws.dynamodb, self.table_name)
        bucket = ImageBucket(self.aws.s3, BUCKET)
        holds = HoldStore(table, SHARDS)
        files = FileStore(table, SHARDS)
        holders = HolderStore(table, holds, bucket)
        self.files_store = files
        self.bucket = bucket
        self.expiry = ExpiryStore(table, bucket, SHARDS)
        self.uploads = UploadContext(TENANT, files, bucket)
        from imagestore.data.cart_items import CartItemStore
        from project_service.logic.cart_items import CartContext

        self.projects_ctx = ProjectContext(tenant=TENANT, files=files, holds=holds,
                                           projects=ProjectStore(table, SHARDS), bucket=bucket, holders=holders)
        self.cart_ctx = CartContext(project=self.projects_ctx, cart_items=CartItemStore(table, SHARDS))
        self.sweep_ctx = SweepContext(expiry=self.expiry, holders=holders, tenant=lambda _: TENANT, shards=SHARDS)
        self.tenant_id = f"t{number}"
        self.sessions = itertools.count()
        self.principal = Principal(self.tenant_id, "alice", f"s{next(self.sessions)}")
        self.now = int(time.time())
        self.files: dict[str, FileModel] = {}
        self.projects: dict[str, ProjectModel] = {}
        self.cart_items: dict[str, ProjectModel] = {}  # the files a cart item holds, and its expiry
        self.uploaded = 0

    def teardown(self) -> None:
        self.aws.dynamodb.delete_table(TableName=self.table_name)

    # --- the model's view -------------------------------------------------------------------------

    def holders(self) -> list[ProjectModel]:
        return [*self.projects.values(), *self.cart_items.values()]

    def held(self, file_id: str) -> bool:
        """Linked by a holder that has not been removed (an expired one holds until the sweep)."""
        return any(file_id in p.file_ids for p in self.holders())

    def usable(self, file_id: str) -> bool:
        f = self.files[file_id]
        return not f.deleted and not f.pending and (self.held(file_id) or f.expires_at > self.now)

    def must_exist(self, file_id: str) -> bool:
        """Invariant 1: kept by a live project or by its own unexpired retention."""
        f = self.files[file_id]
        if f.deleted:
            return False
        live_holder = any(file_id in p.file_ids and p.expires_at > self.now for p in self.holders())
        own = f.expires_at > self.now and (not f.pending or pending_deadline(f.created_at, TENANT.upload_url_seconds)
                                           > self.now)
        return live_holder or own

    def refresh_project(self, project_id: str) -> None:
        item = self.projects_ctx.holders.table.get({"pk": f"T#{self.tenant_id}#P#{project_id}", "sk": "META"})
        assert item is not None
        self.projects[project_id].expires_at = int(item["expiresAt"])
        self.projects[project_id].version = int(item["version"])

    # --- users ----------------------------------------------------------------------------------------

    @rule(target=files_bundle)
    def upload(self) -> str:
        from file_service.logic.uploads import complete_upload, request_upload
        from file_service.models import UploadRequest

        request = UploadRequest(filename="a.jpg", content_type="image/jpeg", size_bytes=len(IMAGE))
        ticket = request_upload(self.principal, request, self.uploads, self.now)
        record = self.files_store.get_file(self.tenant_id, "alice", ticket.file_id)
        assert record is not None
        self.aws.s3.put_object(Bucket=BUCKET, Key=record.object_key, Body=IMAGE, ContentType="image/jpeg")
        complete_upload(record, self.uploads, self.now)
        self.files[record.file_id] = FileModel(record.file_id, self.principal.session_id, record.expires_at, self.now)
        self.uploaded += 1
        return record.file_id

    @rule()
    def abandon_an_upload(self) -> None:
        from file_service.logic.uploads import request_upload
        from file_service.models import UploadRequest

        request = UploadRequest(filename="b.jpg", content_type="image/jpeg", size_bytes=len(IMAGE))
        ticket = request_upload(self.principal, request, self.uploads, self.now)
        record = self.files_store.get_file(self.tenant_id, "alice", ticket.file_id)
        assert record is not None
        self.files[record.file_id] = FileModel(record.file_id, self.principal.session_id, record.expires_at,
                                               self.now, pending=True)

    @precondition(lambda self: self.uploaded > 0)  # drawing from an empty bundle would waste the example
    @rule(target=projects_bundle, chosen=st.lists(files_bundle, min_size=1, max_size=4, unique=True))
    def save_new_project(self, chosen: list[str]) -> Any:
        from project_service.logic.projects import create_project
        from project_service.models import ProjectInput

        request = ProjectInput(name="p", product_type="photobook", file_ids=chosen)
        expected = all(self.usable(f) for f in chosen)
        try:
            view = create_project(self.principal, request, self.projects_ctx, self.now)
        except Unprocessable:
            assert not expected, "a save of usable files was refused"
            return None
        assert expected, "a save of files that are gone succeeded"
        self.projects[view.project_id] = ProjectModel(view.project_id, view.version, 0, set(chosen))
        self.refresh_project(view.project_id)
        return view.project_id

    @precondition(lambda self: self.uploaded > 0)
    @rule(project_id=projects_bundle, chosen=st.lists(files_bundle, max_size=4, unique=True))
    def edit_project(self, project_id: str | None, chosen: list[str]) -> None:
        from project_service.logic.projects import update_project
        from project_service.models import ProjectInput

        project = self.projects.get(project_id or "")
        if project is None:
            return
        request = ProjectInput(name="p", product_type="photobook", file_ids=chosen)
        live = project.expires_at > self.now
        added_usable = all(self.usable(f) for f in chosen if f not in project.file_ids)
        try:
            update_project(self.principal, project.project_id, request, str(project.version), self.projects_ctx,
                           self.now)
        except NotFound:
            assert not live, "a live project was not found"
            return
        except Unprocessable:
            assert not added_usable, "an edit adding usable files was refused"
            return
        except PreconditionFailed:
            raise AssertionError("the model's version is the stored one") from None
        assert live and added_usable
        project.file_ids = set(chosen)
        self.refresh_project(project.project_id)

    @rule(project_id=projects_bundle)
    def load_project(self, project_id: str | None) -> None:
        from project_service.logic.projects import get_project

        project = self.projects.get(project_id or "")
        if project is None:
            return
        try:
            get_project(self.principal, project.project_id, self.projects_ctx, self.now)
        except NotFound:
            assert project.expires_at <= self.now
            return
        self.refresh_project(project.project_id)

    @rule(project_id=consumes(projects_bundle))
    def delete_project(self, project_id: str | None) -> None:
        from project_service.logic.projects import delete_project

        project = self.projects.get(project_id or "")
        if project is None:
            return
        try:
            delete_project(self.principal, project.project_id, self.projects_ctx, self.now)
        except NotFound:
            assert project.expires_at <= self.now
            return
        del self.projects[project.project_id]

    @rule(target=cart_bundle, project_id=projects_bundle)
    def add_to_cart(self, project_id: str | None) -> Any:
        from project_service.logic.cart_items import add_cart_item
        from project_service.models import CartItemInput

        project = self.projects.get(project_id or "")
        if project is None:
            return None
        request = CartItemInput(project_id=project.project_id, product_sku="book", quantity=1)
        try:
            view = add_cart_item(self.principal, request, self.cart_ctx, self.now)
        except Unprocessable:
            assert project.expires_at <= self.now, "a live project could not go into the cart"
            return None
        assert project.expires_at > self.now
        expires_at = self.now + TENANT.cart_retention_seconds
        self.cart_items[view.cart_item_id] = ProjectModel(view.cart_item_id, 1, expires_at, set(project.file_ids))
        return view.cart_item_id

    @rule(cart_item_id=consumes(cart_bundle))
    def remove_from_cart(self, cart_item_id: str | None) -> None:
        from project_service.logic.cart_items import delete_cart_item

        item = self.cart_items.get(cart_item_id or "")
        if item is None:
            return
        try:
            delete_cart_item(self.principal, item.project_id, self.cart_ctx, self.now)
        except NotFound:
            assert item.expires_at <= self.now
            return
        del self.cart_items[item.project_id]

    @rule(file_id=files_bundle)
    def delete_file(self, file_id: str) -> None:
        from file_service.logic.files import delete_file

        f = self.files[file_id]
        visible = not f.deleted and (self.held(file_id) or f.expires_at > self.now)
        try:
            delete_file(self.principal, file_id, self.files_store, self.bucket, self.now)
        except NotFound:
            assert not visible
            return
        except Conflict:
            assert self.held(file_id)
            return
        assert visible and not self.held(file_id)
        f.deleted = True

    @rule()
    def log_out(self) -> None:
        from scheduler_service.logic.logout import end_session


        session_id = self.principal.session_id
        end_session(self.expiry, self.tenant_id, "alice", session_id, self.now)
        for f in self.files.values():
            if f.session_id == session_id and not f.deleted and f.expires_at > self.now:
                f.expires_at = self.now  # held ones live on with their holders, the others go now
                f.deleted = not self.held(f.file_id)
        self.principal = Principal(self.tenant_id, "alice", f"s{next(self.sessions)}")

    # --- time and the scheduler -----------------------------------------------------------------------

    # Mostly small steps (sessions and saves interleave), sometimes past a retention.
    @rule(seconds=st.sampled_from([60, 60, 600, HOUR, 6 * HOUR + 1, DAY, 30 * DAY, 366 * DAY]))
    def advance_clock(self, seconds: int) -> None:
        self.now += seconds

    @rule()
    def sweep(self) -> None:
        from scheduler_service.logic.sweep import Budget, sweep

        report = sweep(self.sweep_ctx, self.now, Budget())
        assert report.complete and report.left_for_next_run == 0
        for holders in (self.projects, self.cart_items):
            for holder_id in [h for h, m in holders.items() if m.expires_at <= self.now]:
                del holders[holder_id]
        for f in self.files.values():
            abandoned = f.pending and pending_deadline(f.created_at, TENANT.upload_url_seconds) <= self.now
            if not f.deleted and not self.held(f.file_id) and (f.expires_at <= self.now or abandoned):
                f.deleted = True
        self.check_removed()

    def stored(self) -> tuple[set[str], set[str]]:
        """File ids with an item, file ids with an object (one BatchGetItem per 100, one ListObjectsV2)."""
        keys = [{"pk": f"T#{self.tenant_id}#U#alice", "sk": f"FILE#{f}"} for f in self.files]
        items = {i["fileId"] for i in self.files_store.table.batch_get(keys)} if keys else set()
        listed = self.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.tenant_id}/alice/").get("Contents", [])
        return items, {o["Key"].rsplit("/", 1)[1] for o in listed}

    def check_removed(self) -> None:
        """Invariant 2: after a sweep, nothing that nothing keeps is left, in the table or the bucket."""
        items, objects = self.stored()
        for f in self.files.values():
            if f.deleted:
                assert f.file_id not in items and f.file_id not in objects, f
        for project_id in self.projects:
            assert self.projects_ctx.holders.table.get({"pk": f"T#{self.tenant_id}#P#{project_id}",
                                                        "sk": "META"}) is not None

    @invariant()
    def kept_images_are_readable(self) -> None:
        """Invariant 1, after every step: item and bytes of everything kept."""
        kept = [f for f in self.files.values() if self.must_exist(f.file_id)]
        if not kept:
            return
        items, objects = self.stored()
        for f in kept:
            assert f.file_id in items, f
            assert f.pending or f.file_id in objects, f


# Sequences per run (read at import: the test environment drops IMAGESTORE_* variables), split in
# two halves so that xdist runs them side by side.
EXAMPLES = int(os.environ.get("IMAGESTORE_STATEFUL_EXAMPLES", "200"))


@pytest.mark.parametrize("half", [1, 2])
def test_held_images_stay_and_unheld_ones_go(aws: Aws, half: int) -> None:
    Retention.aws = aws
    run_state_machine_as_test(
        Retention,
        settings=settings(max_examples=max(1, EXAMPLES // 2), stateful_step_count=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
