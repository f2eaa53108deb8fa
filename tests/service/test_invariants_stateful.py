"""Invariants 1 and 2 under random sequences of what users and the scheduler do.

A hypothesis state machine uploads (and abandons uploads), saves, edits, loads and deletes projects,
shares them for another user of the tenant to copy (then load or delete the copy), puts
projects into the cart and takes them out, places orders of cart items (and checks out: cart, order,
cart emptied), deletes files, logs out, moves the clock and sweeps, through the same logic the
handlers call, against moto. Every sequence starts with a saved project. The holders the
model knows: projects and copies (project retention from the last save or load), cart items (cart
retention), orders (order retention, whatever happens to their projects and cart items afterwards).
After every step: every image a live holder or an unexpired session keeps is readable (item and
bytes); after every sweep: no image and no holder that nothing keeps outlived its retention.
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
    initialize,
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
FILE_PICKS = st.integers(0, 7)  # positions in the list of uploads (modulo its length)
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
class Holder:
    """A project, a copy, a cart item or an order: the files it links, until when."""

    holder_id: str
    expires_at: int
    file_ids: set[str] = field(default_factory=set)
    version: int = 1
    project_id: str | None = None  # a cart item's project


class Retention(RuleBasedStateMachine):
    """One tenant; alice uploads, saves, shares and orders (a browser session that logging out replaces),
    bob copies her shares."""

    aws: Aws

    projects_bundle = Bundle("projects")
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
        from imagestore.data.orders import OrderEvents, OrderStore
        from imagestore.data.shares import ShareStore
        from project_service.logic.cart_items import CartContext
        from project_service.logic.orders import OrderContext
        from project_service.logic.shares import ShareContext

        self.projects_ctx = ProjectContext(tenant=TENANT, files=files, holds=holds,
                                           projects=ProjectStore(table, SHARDS), bucket=bucket, holders=holders)
        self.cart_ctx = CartContext(project=self.projects_ctx, cart_items=CartItemStore(table, SHARDS))
        self.share_ctx = ShareContext(project=self.projects_ctx, shares=ShareStore(table, SHARDS),
                                      public_base_url="http://localhost")
        self.order_ctx = OrderContext(project=self.projects_ctx, cart_items=self.cart_ctx.cart_items,
                                      orders=OrderStore(table, SHARDS), events=OrderEvents(None, "unused"))
        self.sweep_ctx = SweepContext(expiry=self.expiry, holders=holders, tenant=lambda _: TENANT, shards=SHARDS)
        self.tenant_id = f"t{number}"
        self.sessions = itertools.count()
        self.principal = Principal(self.tenant_id, "alice", f"s{next(self.sessions)}")
        self.bob = Principal(self.tenant_id, "bob", "b0")
        self.now = int(time.time())
        self.files: dict[str, FileModel] = {}
        self.projects: dict[str, Holder] = {}
        self.copies: dict[str, Holder] = {}  # bob's copies of alice's shared projects (her files)
        self.cart_items: dict[str, Holder] = {}  # the files a cart item holds, its expiry and its project
        self.orders: dict[str, Holder] = {}  # the files frozen with the ordered projects, order retention
        self.orders_placed = itertools.count()
        self.uploaded: list[str] = []  # completed uploads, in order
        self.copied: list[str] = []  # copies made, in order
        self.carted = 0

    def teardown(self) -> None:
        self.aws.dynamodb.delete_table(TableName=self.table_name)

    # --- the model's view -------------------------------------------------------------------------

    def holder_kinds(self) -> list[dict[str, Holder]]:
        return [self.projects, self.copies, self.cart_items, self.orders]

    def holders(self) -> list[Holder]:
        return [h for kind in self.holder_kinds() for h in kind.values()]

    def held(self, file_id: str) -> bool:
        """Linked by a holder that has not been removed (an expired one holds until the sweep)."""
        return any(file_id in p.file_ids for p in self.holders())

    def usable(self, file_id: str) -> bool:
        f = self.files[file_id]
        return not f.deleted and not f.pending and (self.held(file_id) or f.expires_at > self.now)

    def must_exist(self, file_id: str) -> bool:
        """Invariant 1: kept by a live holder or by its own unexpired retention."""
        f = self.files[file_id]
        if f.deleted:
            return False
        live_holder = any(file_id in p.file_ids and p.expires_at > self.now for p in self.holders())
        own = f.expires_at > self.now and (not f.pending or pending_deadline(f.created_at, TENANT.upload_url_seconds)
                                           > self.now)
        return live_holder or own

    def refresh_project(self, project: Holder) -> None:
        """Expiry and version of a project or copy as stored (the model does not recompute them)."""
        item = self.projects_ctx.holders.table.get({"pk": f"T#{self.tenant_id}#P#{project.holder_id}", "sk": "META"})
        assert item is not None
        project.expires_at = int(item["expiresAt"])
        project.version = int(item["version"])

    def live_project(self, project_id: str | None) -> Holder | None:
        project = self.projects.get(project_id or "")
        return project if project is not None and project.expires_at > self.now else None

    def pick(self, picks: list[int]) -> list[str]:
        """Uploaded files by position, without repeats."""
        return list(dict.fromkeys(self.uploaded[i % len(self.uploaded)] for i in picks))

    # --- users ----------------------------------------------------------------------------------------

    # Every sequence starts with a project of fresh uploads, and mostly with a copy or an order of it too:
    # the chains that leave a copy or an order the last holder of a file (save, copy or check out, delete
    # or edit the project, then delete the file, log out or sweep) are too long for random steps alone.
    @initialize(target=projects_bundle, count=st.integers(1, 2), then=st.sampled_from(["copy", "order", None]))
    def start_with_a_project(self, count: int, then: str | None) -> Any:
        for _ in range(count):
            self.upload()
        project_id = self.save(self.uploaded[-count:])
        if then == "copy":
            self.share_and_copy(project_id)
        elif then == "order":
            self.check_out(project_id)
        return project_id

    @rule()
    def upload(self) -> None:
        from file_service.logic.uploads import complete_upload, request_upload
        from file_service.models import UploadRequest

        request = UploadRequest(filename="a.jpg", content_type="image/jpeg", size_bytes=len(IMAGE))
        ticket = request_upload(self.principal, request, self.uploads, self.now)
        record = self.files_store.get_file(self.tenant_id, "alice", ticket.file_id)
        assert record is not None
        self.aws.s3.put_object(Bucket=BUCKET, Key=record.object_key, Body=IMAGE, ContentType="image/jpeg")
        complete_upload(record, self.uploads, self.now)
        self.files[record.file_id] = FileModel(record.file_id, self.principal.session_id, record.expires_at, self.now)
        self.uploaded.append(record.file_id)

    # (Not abandon_an_upload: hypothesis favours the first of its rules sorted by name, and under that
    # name a third of all steps abandoned uploads.)
    @rule()
    def upload_and_abandon(self) -> None:
        from file_service.logic.uploads import request_upload
        from file_service.models import UploadRequest

        request = UploadRequest(filename="b.jpg", content_type="image/jpeg", size_bytes=len(IMAGE))
        ticket = request_upload(self.principal, request, self.uploads, self.now)
        record = self.files_store.get_file(self.tenant_id, "alice", ticket.file_id)
        assert record is not None
        self.files[record.file_id] = FileModel(record.file_id, self.principal.session_id, record.expires_at,
                                               self.now, pending=True)

    @precondition(lambda self: self.uploaded)
    @rule(target=projects_bundle, picks=st.lists(FILE_PICKS, min_size=1, max_size=4))
    def save_new_project(self, picks: list[int]) -> Any:
        return self.save(self.pick(picks))

    def save(self, chosen: list[str]) -> str | None:
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
        self.projects[view.project_id] = project = Holder(view.project_id, 0, set(chosen))
        self.refresh_project(project)
        return view.project_id

    @rule(project_id=projects_bundle, picks=st.lists(FILE_PICKS, max_size=4))
    def edit_project(self, project_id: str | None, picks: list[int]) -> None:
        from project_service.logic.projects import update_project
        from project_service.models import ProjectInput

        chosen = self.pick(picks)
        project = self.projects.get(project_id or "")
        if project is None:
            return
        request = ProjectInput(name="p", product_type="photobook", file_ids=chosen)
        live = project.expires_at > self.now
        added_usable = all(self.usable(f) for f in chosen if f not in project.file_ids)
        try:
            update_project(self.principal, project.holder_id, request, str(project.version), self.projects_ctx,
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
        self.refresh_project(project)

    @rule(project_id=projects_bundle)
    def load_project(self, project_id: str | None) -> None:
        from project_service.logic.projects import get_project

        project = self.projects.get(project_id or "")
        if project is None:
            return
        try:
            get_project(self.principal, project.holder_id, self.projects_ctx, self.now)
        except NotFound:
            assert project.expires_at <= self.now
            return
        self.refresh_project(project)

    @rule(project_id=consumes(projects_bundle))
    def delete_project(self, project_id: str | None) -> None:
        from project_service.logic.projects import delete_project

        project = self.projects.get(project_id or "")
        if project is None:
            return
        try:
            delete_project(self.principal, project.holder_id, self.projects_ctx, self.now)
        except NotFound:
            assert project.expires_at <= self.now
            return
        del self.projects[project.holder_id]

    @rule(target=cart_bundle, project_id=projects_bundle)
    def add_to_cart(self, project_id: str | None) -> Any:
        return self.put_in_cart(project_id)

    def put_in_cart(self, project_id: str | None) -> str | None:
        from project_service.logic.cart_items import add_cart_item
        from project_service.models import CartItemInput

        project = self.projects.get(project_id or "")
        if project is None:
            return None
        request = CartItemInput(project_id=project.holder_id, product_sku="book", quantity=1)
        try:
            view = add_cart_item(self.principal, request, self.cart_ctx, self.now)
        except Unprocessable:
            assert project.expires_at <= self.now, "a live project could not go into the cart"
            return None
        assert project.expires_at > self.now
        self.carted += 1
        expires_at = self.now + TENANT.cart_retention_seconds
        self.cart_items[view.cart_item_id] = Holder(view.cart_item_id, expires_at, set(project.file_ids),
                                                    project_id=project.holder_id)
        return view.cart_item_id

    @rule(cart_item_id=consumes(cart_bundle))
    def remove_from_cart(self, cart_item_id: str | None) -> None:
        self.take_out_of_cart(cart_item_id)

    def take_out_of_cart(self, cart_item_id: str | None) -> None:
        from project_service.logic.cart_items import delete_cart_item

        item = self.cart_items.get(cart_item_id or "")
        if item is None:
            return
        try:
            delete_cart_item(self.principal, item.holder_id, self.cart_ctx, self.now)
        except NotFound:
            assert item.expires_at <= self.now
            return
        del self.cart_items[item.holder_id]

    @rule(project_id=projects_bundle)
    def share_and_copy(self, project_id: str | None) -> None:
        """Alice shares a project for copying, bob copies it: his new project holds her files (no bytes
        are copied), for a project's retention from his last save or load."""
        from project_service.logic.shares import copy_share, create_share
        from project_service.models import ShareInput

        project = self.projects.get(project_id or "")
        if project is None:
            return
        request = ShareInput(mode="copy", expires_in_days=7)
        try:
            created = create_share(self.principal, project.holder_id, request, self.share_ctx, self.now)
        except NotFound:
            assert project.expires_at <= self.now, "a live project could not be shared"
            return
        assert project.expires_at > self.now, "an expired project was shared"
        view = copy_share(self.bob, created.token, self.share_ctx, self.now)
        assert {f.file_id for f in view.files} == project.file_ids
        self.copies[view.project_id] = copy = Holder(view.project_id, 0, set(project.file_ids))
        self.refresh_project(copy)
        self.copied.append(view.project_id)

    @precondition(lambda self: self.copied)
    @rule(pick=st.integers(0, 3))
    def load_copy(self, pick: int) -> None:
        from project_service.logic.projects import get_project

        copy = self.copies.get(self.copied[pick % len(self.copied)])
        if copy is None:
            return
        try:
            get_project(self.bob, copy.holder_id, self.projects_ctx, self.now)
        except NotFound:
            assert copy.expires_at <= self.now, "a live copy was not found"
            return
        assert copy.expires_at > self.now, "an expired copy was loaded"
        self.refresh_project(copy)

    @precondition(lambda self: self.copied)
    @rule(pick=st.integers(0, 3))
    def delete_copy(self, pick: int) -> None:
        from project_service.logic.projects import delete_project

        copy = self.copies.get(self.copied[pick % len(self.copied)])
        if copy is None:
            return
        try:
            delete_project(self.bob, copy.holder_id, self.projects_ctx, self.now)
        except NotFound:
            assert copy.expires_at <= self.now, "a live copy was not found"
            return
        del self.copies[copy.holder_id]

    @precondition(lambda self: self.carted > 0)
    @rule(cart_item_ids=st.lists(cart_bundle, min_size=1, max_size=3, unique=True))
    def place_order(self, cart_item_ids: list[str | None]) -> None:
        chosen = [c for c in cart_item_ids if c is not None]
        if chosen:
            self.order(chosen)

    @rule(project_id=projects_bundle)
    def check_out(self, project_id: str | None) -> None:
        """What a shop's checkout does: the project into the cart, the order placed, the cart emptied
        (so that only the order holds what it froze: orders outlive the cart items they were made of)."""
        cart_item_id = self.put_in_cart(project_id)
        if cart_item_id is not None:
            self.order([cart_item_id])
            self.take_out_of_cart(cart_item_id)

    def order(self, chosen: list[str]) -> None:
        """An order freezes the current version of the cart items' projects and holds their files."""
        from project_service.logic.orders import place_order
        from project_service.models import OrderInput

        unavailable = [c for c in chosen if c not in self.cart_items or self.cart_items[c].expires_at <= self.now]
        project_ids = {self.cart_items[c].project_id for c in chosen if c not in unavailable}
        projects = [self.live_project(p) for p in project_ids]
        request = OrderInput(cart_item_ids=chosen, external_order_ref=f"ref-{next(self.orders_placed)}")
        try:
            view, placed = place_order(self.principal, request, self.order_ctx, self.now)
        except Unprocessable:
            assert unavailable, "an order of live cart items was refused"
            return
        except Conflict:
            assert not unavailable and None in projects, "an order of live cart items of live projects failed"
            return
        assert placed and not unavailable and None not in projects, "an order of what is gone was placed"
        file_ids = {f for p in projects if p is not None for f in p.file_ids}
        assert {f.file_id for p in view.projects for f in p.files} == file_ids
        self.orders[view.order_id] = Holder(view.order_id, self.now + TENANT.order_retention_seconds, file_ids)

    @rule(pick=FILE_PICKS)
    def delete_file(self, pick: int) -> None:
        from file_service.logic.files import delete_file

        (file_id,) = self.pick([pick])
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
    # 181 days: past an order's retention, within a project's.
    @rule(seconds=st.sampled_from([60, 60, 600, HOUR, 6 * HOUR + 1, DAY, 30 * DAY, 181 * DAY, 366 * DAY]))
    def advance_clock(self, seconds: int) -> None:
        self.now += seconds

    @rule()
    def sweep(self) -> None:
        from scheduler_service.logic.sweep import Budget, sweep

        report = sweep(self.sweep_ctx, self.now, Budget())
        assert report.complete and report.left_for_next_run == 0
        removed = []
        for key, holders in zip(self.holder_keys(), self.holder_kinds(), strict=True):
            for holder_id in [h for h, m in holders.items() if m.expires_at <= self.now]:
                removed.append(key(self.tenant_id, holder_id))
                del holders[holder_id]
        for f in self.files.values():
            abandoned = f.pending and pending_deadline(f.created_at, TENANT.upload_url_seconds) <= self.now
            if not f.deleted and not self.held(f.file_id) and (f.expires_at <= self.now or abandoned):
                f.deleted = True
        self.check_removed(removed)

    @staticmethod
    def holder_keys() -> list[Any]:
        """The META key of each kind of holder, in the order of holder_kinds."""
        from imagestore import keys

        return [keys.project_key, keys.project_key, keys.cart_item_key, keys.order_key]

    def existing(self, item_keys: list[dict[str, str]]) -> set[tuple[str, str]]:
        """The keys that have an item: BatchGetItem of the keys alone (moto answers everything at once)."""
        found: set[tuple[str, str]] = set()
        unique = list({(k["pk"], k["sk"]): k for k in item_keys}.values())
        for start in range(0, len(unique), 100):
            request = {"Keys": [{"pk": {"S": k["pk"]}, "sk": {"S": k["sk"]}} for k in unique[start:start + 100]],
                       "ConsistentRead": True, "ProjectionExpression": "pk, sk"}
            response = self.aws.dynamodb.batch_get_item(RequestItems={self.table_name: request})
            assert not response.get("UnprocessedKeys")
            found |= {(i["pk"]["S"], i["sk"]["S"]) for i in response["Responses"][self.table_name]}
        return found

    def stored(self) -> tuple[set[str], set[str]]:
        """File ids with an item, file ids with an object (one BatchGetItem per 100, one ListObjectsV2)."""
        pk = f"T#{self.tenant_id}#U#alice"
        items = {sk.removeprefix("FILE#") for _, sk in self.existing([{"pk": pk, "sk": f"FILE#{f}"}
                                                                        for f in self.files])}
        listed = self.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.tenant_id}/alice/").get("Contents", [])
        return items, {o["Key"].rsplit("/", 1)[1] for o in listed}

    def check_removed(self, removed: list[dict[str, str]]) -> None:
        """Invariant 2: after a sweep, nothing that nothing keeps is left, in the table or the bucket; the
        expired holders are gone and the others are still there."""
        items, objects = self.stored()
        for f in self.files.values():
            if f.deleted:
                assert f.file_id not in items and f.file_id not in objects, f
        kept = [key(self.tenant_id, h) for key, kind in zip(self.holder_keys(), self.holder_kinds(), strict=True)
                for h in kind]
        metas = self.existing(kept + removed)
        assert not {(k["pk"], k["sk"]) for k in removed} & metas, "an expired holder outlived the sweep"
        assert {(k["pk"], k["sk"]) for k in kept} <= metas, "a live holder was removed"

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
        settings=settings(max_examples=max(1, EXAMPLES // 2), stateful_step_count=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
