"""Holds v2 under real concurrency: races over HTTP against one local stack (DynamoDB Local, the three
APIs), each scenario followed by the whole-table audit (tests/support/holds_audit.py); at the end the
clock passes every retention, the sweep runs, and every kept image still downloads while every other
one is gone.

The scenarios run in file order and share one stack (`-p no:randomly`); each starts its racers on a
barrier so that their requests reach the stack together. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import io
import itertools
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from imagestore import keys
from tests.e2e.stack import StackHandle, running_stack
from tests.support.holds_audit import audit, read_json, scan

pytestmark = pytest.mark.e2e

TENANT = "t1"
HOUR = 3600
ID = re.compile(r"[0-9a-z]{26}")


@dataclass
class Upload:
    owner: User
    data: bytes


@dataclass
class CartItem:
    owner: User
    project_id: str
    version: int
    label: str
    live: bool = True


@dataclass
class World:
    """The stack, a client of its table and bucket, and what the scenarios made (for the final check)."""

    stack: StackHandle
    dynamodb: Any
    s3: Any
    table: str
    bucket: str
    files: dict[str, Upload] = field(default_factory=dict)
    projects: dict[str, tuple[User, str]] = field(default_factory=dict)  # project id -> (owner, label)
    versions: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # (project, version) -> file ids
    cart_items: dict[str, CartItem] = field(default_factory=dict)
    orders: dict[str, tuple[User, str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # any id -> the scenario and round that made it
    server_errors: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # how the races went (printed at the end)
    lock: threading.Lock = field(default_factory=threading.Lock)
    colors: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base(self) -> str:
        return self.stack.base_url

    def user(self, name: str) -> User:
        return User(self, name)

    def tally(self, race_name: str, *outcome: object) -> None:
        with self.lock:
            self.outcomes[f"{race_name}: {' '.join(map(str, outcome))}"] += 1

    # --- uploads, projects, records --------------------------------------------------------

    def png(self) -> bytes:
        """A small PNG whose bytes no other upload has."""
        from PIL import Image

        with self.lock:
            n = next(self.colors)
        buffer = io.BytesIO()
        Image.new("RGB", (6, 4), (n % 256, (n // 256) % 256, (n // 65536) % 256)).save(buffer, "PNG")
        return buffer.getvalue()

    def upload(self, user: User, label: str) -> str:
        data = self.png()
        created = user.call(
            "POST", "/uploads", {"filename": "p.png", "contentType": "image/png", "sizeBytes": len(data)}
        )
        assert created.status_code == 201, created.text
        ticket = created.json()
        posted = requests.post(
            ticket["upload"]["url"],
            data=ticket["upload"]["fields"],
            files={"file": ("p.png", data, "image/png")},
            timeout=60,
        )
        assert posted.status_code in (200, 201, 204), posted.text
        completed = user.call("POST", f"/uploads/{ticket['fileId']}/complete")
        assert completed.status_code == 200, completed.text
        file_id = str(ticket["fileId"])
        with self.lock:
            self.files[file_id] = Upload(user, data)
            self.labels[file_id] = f"file of {label}"
        return file_id

    def uploads(self, user: User, count: int, label: str) -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: self.upload(user, label), range(count)))

    def create_project(self, user: User, file_ids: list[str], label: str) -> str:
        created = user.call("POST", "/projects", body(file_ids, "Book"))
        assert created.status_code == 201, (label, created.text)
        return self.remember(user, created.json(), label)

    def remember(self, user: User, view: dict[str, Any], label: str) -> str:
        """Record a project version the API answered with (a project view)."""
        project_id = str(view["projectId"])
        with self.lock:
            self.projects.setdefault(project_id, (user, label))
            self.labels.setdefault(project_id, f"project of {label}")
            self.versions[(project_id, int(view["version"]))] = [f["fileId"] for f in view["files"]]
        return project_id

    def save(
        self, user: User, project_id: str, version: int, file_ids: list[str], label: str, *, name: str = "Book"
    ) -> requests.Response:
        response = user.call("PUT", f"/projects/{project_id}", body(file_ids, name), {"If-Match": f'"{version}"'})
        if response.status_code == 200:
            self.remember(user, response.json(), label)
        return response

    def load(self, user: User, project_id: str) -> requests.Response:
        """GET the project; a 409 (a save replaced the manifest while reading) is retried."""
        for _ in range(50):
            response = user.call("GET", f"/projects/{project_id}")
            if response.status_code != 409:
                return response
            time.sleep(0.02)
        return response

    # --- the stack ---------------------------------------------------------------------------

    def now(self) -> int:
        return int(requests.get(f"{self.base}/_local/clock", timeout=10).json()["nowEpoch"])

    def advance_clock(self, seconds: int) -> None:
        moved = requests.post(f"{self.base}/_local/clock", json={"advanceSeconds": seconds}, timeout=10)
        assert moved.status_code == 200, moved.text

    def sweep(self) -> dict[str, Any]:
        response = requests.post(f"{self.base}/_local/functions/scheduler/sweep/invoke", json={}, timeout=120)
        if response.status_code != 200:
            self.server_errors.append(f"sweep: {response.status_code} {response.text[:500]}")
            return {}
        return dict(response.json())

    def hold_mark(self, owner: User, project_id: str, file_id: str) -> int:
        """H#{project} on the file's item: > 0 while the project holds it."""
        key = keys.file_key(TENANT, owner.name, file_id)
        item = self.dynamodb.get_item(
            TableName=self.table, ConsistentRead=True, Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}}
        ).get("Item", {})
        return int(item.get(f"H#{project_id}", {}).get("N", "0"))

    def items(self) -> list[dict[str, Any]]:
        return scan(self.dynamodb, self.table)

    def object_exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    # --- checking ----------------------------------------------------------------------------

    def quiesce(self, timeout: float = 20.0) -> list[str]:
        """Wait until no save holds a project's lock (a request whose client gave up may still run);
        what is still locked or creating after timeout is a problem."""
        deadline = time.monotonic() + timeout
        while True:
            busy = [
                i
                for i in self.items()
                if i.get("entity") == "project" and (i.get("lockId") or i.get("status") == "creating")
            ]
            if not busy:
                return []
            if time.monotonic() > deadline:
                return [
                    f"project {i['projectId']} is still {'locked' if i.get('lockId') else 'creating'} "
                    f"({ {k: i.get(k) for k in ('status', 'lockPhase', 'lockUntil', 'version')} })"
                    for i in busy
                ]
            time.sleep(0.2)

    def cart_problems(self) -> list[str]:
        """Every live cart item's pinned version keeps its files: the project holds each of them."""
        files = {i["fileId"]: i for i in self.items() if i.get("entity") == "file"}
        problems = []
        for cart_item_id, item in self.cart_items.items():
            if not item.live:
                continue
            for file_id in self.versions[(item.project_id, item.version)]:
                mark = int(files.get(file_id, {}).get(f"H#{item.project_id}", 0))
                if mark <= 0:
                    problems.append(
                        f"cart item {cart_item_id} pins version {item.version} of project "
                        f"{item.project_id}, whose file {file_id} the project does not hold "
                        f"({'gone' if file_id not in files else f'mark {mark}'})"
                    )
        return problems

    def check(self, scenario: str) -> None:
        """No 5xx so far, and the whole table consistent (once every save has finished)."""
        problems = self.quiesce()
        problems += audit(self.dynamodb, self.s3, self.table, self.bucket, self.now())
        problems += self.cart_problems()
        problems += self.server_errors
        self.server_errors.clear()
        assert not problems, f"{scenario}: {len(problems)} problem(s):\n" + "\n".join(self.explain(p) for p in problems)

    def explain(self, problem: str) -> str:
        """The problem with the scenario and round of every id it names."""
        named = [f"{i} = {self.labels[i]}" for i in dict.fromkeys(ID.findall(problem)) if i in self.labels]
        return f"  {problem}" + (f"   [{'; '.join(named)}]" if named else "")


class User:
    """One user of tenant t1, with one browser session."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name
        token = world.stack.mint_token(TENANT, name, session=f"{name}-desk", ttl=3 * HOUR)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float] = 60,
    ) -> requests.Response:
        response = requests.request(
            method,
            f"{self.world.base}{path}",
            json=json_body,
            timeout=timeout,
            headers={**self.headers, **(headers or {})},
        )
        if response.status_code >= 500:
            self.world.server_errors.append(
                f"{method} {path} by {self.name}: {response.status_code} {response.text[:500]}"
            )
        return response


def body(file_ids: list[str], name: str) -> dict[str, Any]:
    return {"name": name, "productType": "photobook", "document": {"pages": list(file_ids)}, "fileIds": list(file_ids)}


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run calls on threads of their own, released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, c) for c in calls]
    return [f.result() for f in futures]


def later(seconds: float, call: Callable[[], Any]) -> Callable[[], Any]:
    """call, started seconds after the others (a quick request staggered across a slow one's phases)."""

    def delayed() -> Any:
        time.sleep(seconds)
        return call()

    return delayed


def stagger(round_: int, upto: float = 0.3, steps: int = 8) -> float:
    """A delay that walks from 0 to upto over the rounds: a save takes 0.1-0.3 s here, a DELETE or
    a cart item 0.04 s, so the quick one lands before, during and after the save's lock."""
    return upto * (round_ % steps) / (steps - 1)


def codes(responses: list[requests.Response]) -> list[int]:
    return [r.status_code for r in responses]


def file_ids_of(view: dict[str, Any]) -> list[str]:
    return [f["fileId"] for f in view["files"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = Path(tmp_path_factory.mktemp("hold-races")) / "data"
    with running_stack(data, extra_env={"IMAGESTORE_LOCAL_SCHEDULE_SCALE": "1"}) as stack:
        health = requests.get(f"{stack.base_url}/_local/health", timeout=10).json()
        assert health["dynamodb"] == "dynamodb-local", "these races are meant for DynamoDB Local (Java 17+)"
        # The stack's own credentials: its S3 (SeaweedFS) refuses any others.
        credentials = {"region_name": health["region"], "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        (table,), (bucket,) = health["tables"], health["buckets"]
        yield World(
            stack=stack,
            table=table,
            bucket=bucket,
            dynamodb=boto3.client("dynamodb", endpoint_url=health["endpoints"]["dynamodb"], **credentials),
            s3=boto3.client("s3", endpoint_url=health["endpoints"]["s3"], **credentials),
        )


# --- (a) parallel saves of one version -----------------------------------------------------------

SAVERS = 10
ROUNDS_A = 12


def test_parallel_saves_of_one_version_have_exactly_one_winner(world: World) -> None:
    """10 PUTs with the same If-Match: one 200, the others 409 or 412, and the saved version is the
    winner's. Rounds alternate: each adds a file of its own; all add the same file; each adds its own
    and drops one (a release in the same save); half add a file of their own (the locked path) while
    the other half only rename (the one-update path that no hold changes)."""
    ana = world.user("ana")
    keep, dropped = world.uploads(ana, 2, "(a)")
    for round_ in range(ROUNDS_A):
        variant = round_ % 4
        label = f"(a) round {round_} variant {variant}"
        project_id = world.create_project(ana, [keep, dropped], label)
        if variant == 1:
            shared = world.upload(ana, label)
            wanted = [[keep, dropped, shared] for _ in range(SAVERS)]
        elif variant == 3:
            fresh = world.uploads(ana, SAVERS // 2, label)
            wanted = [[keep, dropped, *fresh[i : i + 1]] for i in range(SAVERS)]
        else:
            fresh = world.uploads(ana, SAVERS, label)
            wanted = [[keep, dropped, f] if variant == 0 else [keep, f] for f in fresh]
        responses = race(
            *[partial(world.save, ana, project_id, 1, w, label, name=f"try {i}") for i, w in enumerate(wanted)]
        )
        statuses = codes(responses)
        for status in statuses:
            world.tally("(a) parallel saves", f"variant {variant}", status)
        assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 412}, (
            label,
            statuses,
            [r.text for r in responses if r.status_code != 200][:3],
        )
        winner = statuses.index(200)
        shown = world.load(ana, project_id).json()
        assert (shown["version"], shown["name"], file_ids_of(shown)) == (2, f"try {winner}", wanted[winner]), label
    world.check("(a) parallel saves of one version")


# --- (b) drop a file in one version, add it back in the next -------------------------------------

ROUNDS_B = 8


def test_a_file_dropped_and_added_back_in_the_next_version_stays_held(world: World) -> None:
    """One client saves v1 -> v2 without F while another saves v2 -> v3 with F again, sending its PUT
    from the moment v2 can exist (412 while v1 is current, 409 while v2's save still releases)."""
    bea = world.user("bea")
    (keep,) = world.uploads(bea, 1, "(b)")
    for round_ in range(ROUNDS_B):
        label = f"(b) round {round_}"
        (again,) = world.uploads(bea, 1, label)
        project_id = world.create_project(bea, [keep, again], label)
        v3 = [keep, again] if round_ % 2 == 0 else [again]  # odd rounds: v3 also drops what v2 kept

        def add_back(project_id: str = project_id, v3: list[str] = v3, label: str = label) -> list[int]:
            seen = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                response = world.save(bea, project_id, 2, v3, label, name="v3")
                seen.append(response.status_code)
                if response.status_code not in (409, 412):
                    break
                time.sleep(0.003)
            return seen

        dropped, added = race(partial(world.save, bea, project_id, 1, [keep], label, name="v2"), add_back)
        assert dropped.status_code == 200, (label, dropped.text)
        assert added[-1] == 200 and set(added[:-1]) <= {409, 412}, (label, added)
        world.tally("(b) add back", f"refused {sorted(set(added[:-1]))} before its 200")
        shown = world.load(bea, project_id).json()
        assert (shown["version"], file_ids_of(shown)) == (3, v3), label
    world.check("(b) drop then add back, pairwise")


def test_many_clients_toggling_files_of_one_project(world: World) -> None:
    """Six clients, six saves each: load, toggle one file in or out (or, every third save, only
    rename), save with the loaded version. Every 200 is one new version: the last one is what the
    project shows."""
    cleo = world.user("cleo")
    label = "(b) toggle storm"
    keep, *toggled = world.uploads(cleo, 5, label)
    project_id = world.create_project(cleo, [keep, *toggled[:2]], label)
    saved: list[tuple[int, list[str]]] = []

    def client(seed: int) -> list[int]:
        statuses = []
        for step in range(6):
            shown = world.load(cleo, project_id)
            assert shown.status_code == 200, shown.text
            view = shown.json()
            flip = toggled[(seed + step) % len(toggled)]
            current = file_ids_of(view)
            if (seed + step) % 3 == 2:
                wanted = current  # a rename only: the save that changes no hold
            else:
                wanted = [f for f in current if f != flip] if flip in current else [*current, flip]
            response = world.save(cleo, project_id, view["version"], wanted, label, name=f"c{seed}s{step}")
            statuses.append(response.status_code)
            if response.status_code == 200:
                with world.lock:
                    saved.append((response.json()["version"], wanted))
        return statuses

    statuses = [s for run in race(*[(lambda seed=seed: client(seed)) for seed in range(6)]) for s in run]
    assert set(statuses) <= {200, 409, 412}, statuses
    for status in statuses:
        world.tally("(b) toggle storm", status)
    assert sorted(v for v, _ in saved) == list(range(2, 2 + len(saved))), saved
    shown = world.load(cleo, project_id).json()
    assert saved, statuses
    assert (shown["version"], file_ids_of(shown)) == max(saved), saved
    world.check("(b) toggle storm")


# --- (c) delete racing save ------------------------------------------------------------------------

ROUNDS_C = 15


def test_a_delete_racing_saves_leaves_no_hold_behind(world: World) -> None:
    """DELETE /projects/{id} at the same moment as one or two PUTs (adding, swapping, dropping files,
    or renaming only); the sweep then removes the project and releases everything it held."""
    dan = world.user("dan")
    (keep,) = world.uploads(dan, 1, "(c)")
    made: list[str] = []
    for round_ in range(ROUNDS_C):
        variant = round_ % 5
        label = f"(c) round {round_} variant {variant}"
        old, new = world.uploads(dan, 2, label)
        project_id = world.create_project(dan, [keep, old], label)
        made.append(project_id)
        edits = {
            0: [[keep, old, new]],
            1: [[keep, new]],
            2: [[keep]],
            3: [[keep, old]],
            4: [[keep, old, new], [keep, new]],
        }[variant]
        responses = race(
            later(stagger(round_), partial(dan.call, "DELETE", f"/projects/{project_id}")),
            *[partial(world.save, dan, project_id, 1, w, label, name="edited") for w in edits],
        )
        assert responses[0].status_code == 204, (label, responses[0].text)
        world.tally("(c) DELETE vs PUT", f"variant {variant}", "PUT", codes(responses[1:]))
        allowed = {200, 404, 409} | ({412} if len(edits) > 1 else set())  # 412: the other PUT saved first
        assert set(codes(responses[1:])) <= allowed and codes(responses[1:]).count(200) <= 1, (
            label,
            [r.text for r in responses[1:]],
        )
        assert world.load(dan, project_id).status_code == 404, label
    world.check("(c) delete racing saves, before the sweep")
    reports = []
    for _ in range(4):
        reports.append(world.sweep())
        left = {i["projectId"] for i in world.items() if i.get("entity") == "project"} & set(made)
        if not left:
            break
    assert not left, f"deleted projects the sweep did not remove: {sorted(left)}; sweeps: {reports}"
    world.tally("(c) deleted projects", f"removed after {len(reports)} sweep(s)")
    held = [
        i["fileId"]
        for i in world.items()
        if i.get("entity") == "file" and i.get("userId") == "dan" and int(i.get("holdCount", 0)) != 0
    ]
    assert not held, f"files of deleted projects still held: {held}"
    world.check("(c) delete racing saves, after the sweep")


# --- (d) cart items and orders racing saves ----------------------------------------------------------

ROUNDS_D = 10


def add_to_cart(world: World, user: User, project_id: str, label: str) -> requests.Response:
    response = user.call("POST", "/cart-items", {"projectId": project_id, "productSku": "BOOK-A4", "quantity": 1})
    if response.status_code == 201:
        item = response.json()
        with world.lock:
            world.cart_items[item["cartItemId"]] = CartItem(user, project_id, int(item["projectVersion"]), label)
            world.labels[item["cartItemId"]] = f"cart item of {label}"
    return response


def place_order(world: World, user: User, cart_item_id: str, label: str) -> requests.Response:
    response = user.call(
        "POST", "/orders", {"cartItemIds": [cart_item_id], "externalOrderRef": f"shop-{uuid.uuid4().hex[:12]}"}
    )
    if response.status_code == 201:
        order = response.json()
        with world.lock:
            world.orders[order["orderId"]] = (user, label)
            world.labels[order["orderId"]] = f"order of {label}"
    return response


def test_cart_items_and_orders_racing_saves_and_deletes(world: World) -> None:
    """A cart item added while a save drops a file (the save may not release what the pin keeps);
    an order placed while the project is saved again (and, every other round, deleted while another
    cart item is added); the cart item deleted while a save drops files (unpin racing a release).
    Every live cart item's pinned version stays held (World.cart_problems), every order's too (audit)."""
    eli = world.user("eli")
    (keep,) = world.uploads(eli, 1, "(d)")
    for round_ in range(ROUNDS_D):
        label = f"(d) round {round_}"
        first, second, third = world.uploads(eli, 3, label)
        project_id = world.create_project(eli, [keep, first], label)

        saved, carted = race(
            partial(world.save, eli, project_id, 1, [keep, second], label),
            later(stagger(round_), partial(add_to_cart, world, eli, project_id, label)),
        )
        assert saved.status_code in (200, 409) and carted.status_code in (201, 409), (label, saved.text, carted.text)
        world.tally(
            "(d) PUT vs cart item",
            "PUT",
            saved.status_code,
            "cart",
            carted.status_code,
            "pinned v",
            carted.json().get("projectVersion"),
        )
        if carted.status_code == 201:
            # Pinned version 1 and saved: the pin came first, so the save released nothing.
            if carted.json()["projectVersion"] == 1 and saved.status_code == 200:
                assert world.hold_mark(eli, project_id, first) > 0, f"{label}: version 1 pinned, its file released"
        else:
            carted = add_to_cart(world, eli, project_id, label)
            assert carted.status_code == 201, (label, carted.text)
        cart_item_id = carted.json()["cartItemId"]

        current = world.load(eli, project_id).json()
        deleting = round_ % 2 == 1
        moves: list[Callable[[], Any]] = [
            partial(world.save, eli, project_id, current["version"], [*file_ids_of(current)[1:], third], label),
            later(stagger(round_, 0.2), partial(place_order, world, eli, cart_item_id, label)),
        ]
        if deleting:
            moves.append(later(stagger(round_ + 3), partial(eli.call, "DELETE", f"/projects/{project_id}")))
            moves.append(later(stagger(round_ + 5), partial(add_to_cart, world, eli, project_id, label)))
        saved, ordered, *others = race(*moves)
        assert saved.status_code in (200, 404, 409), (label, saved.text)
        assert ordered.status_code in (201, 409), (label, ordered.text)
        world.tally(
            "(d) PUT vs order" + (" vs DELETE vs cart item" if deleting else ""),
            "PUT",
            saved.status_code,
            "order",
            ordered.status_code,
            *(["cart", others[1].status_code] if deleting else []),
        )
        if deleting:
            deleted, carted = others
            assert deleted.status_code == 204, (label, deleted.text)
            assert carted.status_code in (201, 409, 422), (label, carted.text)  # 422: no longer a project of yours
        if ordered.status_code == 201:
            (frozen,) = ordered.json()["projects"]
            assert file_ids_of(frozen) == world.versions[(project_id, frozen["version"])], label

        if not deleting:
            current = world.load(eli, project_id).json()
            unpinned, saved = race(
                later(stagger(round_), partial(eli.call, "DELETE", f"/cart-items/{cart_item_id}")),
                partial(world.save, eli, project_id, current["version"], [keep], label),
            )
            assert unpinned.status_code == 204, (label, unpinned.text)
            world.tally("(d) cart item DELETE vs PUT", "PUT", saved.status_code)
            assert saved.status_code in (200, 409), (label, saved.text)
            world.cart_items[cart_item_id].live = False
    world.check("(d) cart items and orders racing saves")
    world.sweep()
    world.check("(d) after a sweep")


# --- (e) a copy racing the original's delete -----------------------------------------------------------

ROUNDS_E = 10


def test_a_copy_racing_the_delete_of_its_original_keeps_its_images(world: World) -> None:
    """Bob copies Olga's shared project while she deletes it (and, every other round, saves it
    dropping a file at the same moment). A copy that was made keeps every image; a copy deleted
    later lets the sweep remove the deleted original."""
    olga, bob = world.user("olga"), world.user("bob")
    (keep,) = world.uploads(olga, 1, "(e)")
    gone_later: list[tuple[str, str]] = []
    for round_ in range(ROUNDS_E):
        label = f"(e) round {round_}"
        (mine,) = world.uploads(olga, 1, label)
        project_id = world.create_project(olga, [keep, mine], label)
        shared = olga.call("POST", f"/projects/{project_id}/shares", {"mode": "copy", "expiresInDays": 7})
        assert shared.status_code == 201, shared.text
        token = shared.json()["token"]
        moves: list[Callable[[], Any]] = [
            partial(bob.call, "POST", f"/shares/{token}/copies"),
            later(stagger(round_, 0.2), partial(olga.call, "DELETE", f"/projects/{project_id}")),
        ]
        if round_ % 2:
            moves.append(partial(world.save, olga, project_id, 1, [keep], label))
        copied, deleted, *saved = race(*moves)
        assert copied.status_code in (201, 404, 409), (label, copied.text)
        world.tally(
            "(e) copy vs DELETE" + (" vs PUT" if saved else ""), "copy", copied.status_code, "PUT", codes(saved)
        )
        assert deleted.status_code == 204, (label, deleted.text)
        assert all(r.status_code in (200, 404, 409) for r in saved), (label, [r.text for r in saved])
        if copied.status_code == 201:
            copy_id = world.remember(bob, copied.json(), label)
            versions = [files for (p, _), files in world.versions.items() if p == project_id]
            assert world.versions[(copy_id, 1)] in versions, label
            view = world.load(bob, copy_id).json()
            for file in view["files"]:
                assert requests.get(file["downloadUrl"], timeout=30).content == world.files[file["fileId"]].data
            if round_ % 4 == 0:
                gone_later.append((copy_id, project_id))
    world.sweep()
    world.check("(e) copies racing deletes")
    for copy_id, _ in gone_later:
        assert bob.call("DELETE", f"/projects/{copy_id}").status_code == 204
    doomed, reports = {p for pair in gone_later for p in pair}, []
    for _ in range(5):  # the copy goes (unpinning its original), then the original: two runs at most
        reports.append(world.sweep())
        left = [
            {k: i.get(k) for k in ("projectId", "status", "pinCount", "lockId", "xsk")}
            for i in world.items()
            if i.get("entity") == "project" and i["projectId"] in doomed
        ]
        if not left:
            break
    assert not left, f"deleted copies or originals not removed: {left}; sweeps: {reports}"
    world.tally("(e) copy deleted, then its deleted original", f"both removed after {len(reports)} sweep(s)")
    world.check("(e) after deleting copies")


# --- (f) a save retried after its response was lost ------------------------------------------------

ROUNDS_F = 10


def test_a_save_retried_after_its_response_was_lost(world: World) -> None:
    """The client gives up reading the answer to its PUT (the save goes on) and sends the same PUT
    again: the retry answers 200 (the first did not save) or 412 (it did), after 409s while the first
    still runs; either way the project is at version 2 with the requested files, nothing saved twice."""
    fay = world.user("fay")
    (keep,) = world.uploads(fay, 1, "(f)")
    delays = [0.0, 0.02, 0.08, 0.2, 0.5]
    for round_ in range(ROUNDS_F):
        variant = round_ % 4
        label = f"(f) round {round_} variant {variant}"
        old, new = world.uploads(fay, 2, label)
        project_id = world.create_project(fay, [keep, old], label)
        wanted = {0: [keep, old, new], 1: [keep, new], 2: [keep], 3: [keep, old]}[variant]
        with pytest.raises(requests.exceptions.RequestException):
            fay.call("PUT", f"/projects/{project_id}", body(wanted, "lost"), {"If-Match": '"1"'}, timeout=(5, 0.001))
        time.sleep(delays[round_ % len(delays)])
        statuses = []
        for _ in range(200):
            retried = world.save(fay, project_id, 1, wanted, label, name="lost")
            statuses.append(retried.status_code)
            if retried.status_code != 409:
                break
            time.sleep(0.02)
        assert statuses[-1] in (200, 412) and set(statuses[:-1]) <= {409}, (label, statuses, retried.text)
        world.tally("(f) retried PUT", statuses[-1], "after 409s" if len(statuses) > 1 else "at once")
        if statuses[-1] == 412:
            assert retried.json()["error"]["details"]["currentVersion"] == 2, (label, retried.text)
        assert not world.quiesce(), label
        shown = world.load(fay, project_id).json()
        assert (shown["version"], shown["name"], file_ids_of(shown)) == (2, "lost", wanted), label
        world.remember(fay, shown, label)
    world.check("(f) retried saves")


# --- (g) the sweep racing saves ------------------------------------------------------------------------

ROUNDS_G = 10


def test_the_sweep_racing_saves_that_move_images_whose_retention_is_over(world: World) -> None:
    """Every image of Gil's is past its own retention (the clock moves 6 h): only holds keep them. Each
    round, one project drops an image while another adds it and the sweep runs twice at the same time;
    a third project is deleted while saved (with images a fourth one, never changed, keeps). An image a
    save answered 200 for is held; one nothing holds is gone with the next sweep (an add that came too
    late is 422)."""
    gil = world.user("gil")
    pool = world.uploads(gil, 16, "(g)")
    left_side, right_side, anchors, loose = pool[:6], pool[6:10], pool[10:12], pool[12:]
    first = world.create_project(gil, list(left_side), "(g) left")
    second = world.create_project(gil, list(right_side), "(g) right")
    world.create_project(gil, list(anchors), "(g) anchor")
    assert not world.quiesce()
    world.advance_clock(6 * HOUR + 120)
    world.sweep()
    for file_id in loose:  # unheld and past their retention: gone
        assert gil.call("GET", f"/files/{file_id}").status_code == 404
    refused = world.save(gil, second, 1, [*right_side, loose[0]], "(g) expired")
    assert refused.status_code == 422, refused.text

    for round_ in range(ROUNDS_G):
        label = f"(g) round {round_}"
        left, right = world.load(gil, first).json(), world.load(gil, second).json()
        source, target = (left, right) if len(left["files"]) >= len(right["files"]) else (right, left)
        if not source["files"]:
            break  # every image was lost to the sweep (each add that came too late loses one)
        moving = file_ids_of(source)[round_ % len(source["files"])]
        doomed = world.create_project(gil, [anchors[0]], label)
        dropped, added, *_, doomed_save, doomed_delete = race(
            partial(
                world.save,
                gil,
                source["projectId"],
                source["version"],
                [f for f in file_ids_of(source) if f != moving],
                label,
            ),
            partial(world.save, gil, target["projectId"], target["version"], [*file_ids_of(target), moving], label),
            world.sweep,
            later(0.1, world.sweep),
            partial(world.save, gil, doomed, 1, anchors if round_ % 2 else anchors[1:], label),
            later(stagger(round_), partial(gil.call, "DELETE", f"/projects/{doomed}")),
        )
        assert dropped.status_code in (200, 409), (label, dropped.text)
        assert added.status_code in (200, 409, 422), (label, added.text)
        world.tally(
            "(g) drop vs add vs sweeps",
            "drop",
            dropped.status_code,
            "add",
            added.status_code,
            "deleted project's PUT",
            doomed_save.status_code,
        )
        assert doomed_save.status_code in (200, 404, 409), (label, doomed_save.text)
        assert doomed_delete.status_code == 204, (label, doomed_delete.text)
        for project_id in (first, second):
            view = world.load(gil, project_id).json()
            for file in view["files"]:
                assert requests.get(file["downloadUrl"], timeout=30).content == world.files[file["fileId"]].data, (
                    label,
                    file["fileId"],
                )
    world.sweep()
    world.check("(g) sweeps racing saves")


# --- after every retention ------------------------------------------------------------------------------


def test_after_every_retention_kept_images_download_and_the_rest_are_gone(world: World) -> None:
    """Cart items are deleted and every live project is saved once more (releasing what its pins kept),
    the clock passes every file's retention (7 h more) and the sweep runs until it has nothing left.
    Then: every file a live project, copy or order lists downloads with its bytes; every file is held
    exactly when a live holder keeps it; every other upload is gone (404, no object, no item). (Two
    uploads of its own, one saved, so that it checks both sides whatever ran before it on this stack.)"""
    ida = world.user("ida")
    world.create_project(ida, world.uploads(ida, 2, "final")[:1], "final")
    world.check("before the final sweep")
    for cart_item_id, item in world.cart_items.items():
        if item.live:
            assert item.owner.call("DELETE", f"/cart-items/{cart_item_id}").status_code == 204
            item.live = False

    def save_again(project_id: str) -> None:
        owner, label = world.projects[project_id]
        shown = world.load(owner, project_id)
        if shown.status_code == 200:
            view = shown.json()
            resaved = world.save(owner, project_id, view["version"], file_ids_of(view), label, name=view["name"])
            assert resaved.status_code == 200, (label, resaved.text)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(save_again, list(world.projects)))
    world.check("after deleting cart items and saving every project again")

    world.advance_clock(7 * HOUR)
    for _ in range(5):
        report = world.sweep()
        if not (report.get("files_removed") or report.get("holders_removed") or report.get("items_removed")):
            break
    world.check("after every retention")

    items = world.items()
    now = world.now()
    files = {i["fileId"]: i for i in items if i.get("entity") == "file"}
    metas = {i["projectId"]: i for i in items if i.get("entity") == "project"}
    problems: list[str] = []
    listed: set[str] = set()
    for project_id, meta in metas.items():
        live = meta["status"] == "active" and int(meta["expiresAt"]) > now
        if not live and int(meta.get("pinCount", 0)) == 0:
            problems.append(f"project {project_id} ({meta['status']}, unpinned) outlived the sweep")
    for project_id, (owner, label) in world.projects.items():
        shown = world.load(owner, project_id)
        assert shown.status_code in (200, 404), (label, shown.text)
        if shown.status_code == 404:
            continue
        view = shown.json()
        listed.update(file_ids_of(view))
        for file in view["files"]:
            got = requests.get(file["downloadUrl"], timeout=30)
            if got.status_code != 200 or got.content != world.files[file["fileId"]].data:
                problems.append(
                    f"project {project_id} lists file {file['fileId']}, which does not download ({got.status_code})"
                )
        meta = metas[project_id]
        if int(meta.get("pinCount", 0)) == 0:
            manifest = read_json(world.s3, world.bucket, meta["manifestKey"]) or {}
            extra = set(manifest.get("held", [])) - set(file_ids_of(view))
            if extra:
                problems.append(
                    f"project {project_id}, unpinned and saved again, still holds files it does not "
                    f"list: {sorted(extra)}"
                )
    for order_id, (owner, label) in world.orders.items():
        shown = owner.call("GET", f"/orders/{order_id}")
        assert shown.status_code == 200, (label, shown.text)
        for project in shown.json()["projects"]:
            listed.update(file_ids_of(project))
            for file in project["files"]:
                got = requests.get(file["downloadUrl"], timeout=30)
                if got.status_code != 200 or got.content != world.files[file["fileId"]].data:
                    problems.append(
                        f"order {order_id} lists file {file['fileId']}, which does not download ({got.status_code})"
                    )
    pinned_held = set()
    for meta in metas.values():
        if int(meta.get("pinCount", 0)) > 0:
            manifest = read_json(world.s3, world.bucket, meta["manifestKey"]) or {}
            pinned_held.update(manifest.get("held", []))

    def check_file(file_id: str) -> tuple[bool, list[str]]:
        """Whether the file is held, and what is wrong with it: held and not served, or unheld and not gone."""
        upload, stored = world.files[file_id], files.get(file_id) or {}
        held, wrong = int(stored.get("holdCount", 0)) > 0, []
        if file_id in listed and not held:
            wrong.append(f"file {file_id} is listed by a live project or order but not held")
        if held and file_id not in listed | pinned_held:
            wrong.append(f"file {file_id} is held (holdCount {stored['holdCount']}) though no live holder keeps it")
        answer = upload.owner.call("GET", f"/files/{file_id}")
        if held:
            if answer.status_code != 200:
                wrong.append(f"held file {file_id} answers {answer.status_code}")
            elif requests.get(answer.json()["downloadUrl"], timeout=30).content != upload.data:
                wrong.append(f"held file {file_id} does not download its bytes")
        else:
            object_key = keys.object_key(TENANT, upload.owner.name, file_id)
            present = world.object_exists(object_key)
            if answer.status_code != 404 or stored or present:
                wrong.append(
                    f"file {file_id}, which nothing holds, is not gone after its retention: GET "
                    f"{answer.status_code}, item {'present' if stored else 'gone'}, object "
                    f"{'present' if present else 'gone'}"
                )
        return held, wrong

    with ThreadPoolExecutor(8) as pool:
        checked = list(pool.map(check_file, list(world.files)))
    problems += [p for _, wrong in checked for p in wrong]
    kept, gone = sum(held for held, _ in checked), sum(not held for held, _ in checked)
    problems += world.server_errors
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(world.explain(p) for p in problems)
    assert kept > 0 and gone > 0, (kept, gone)
    world.tally("final", f"{kept} files kept and downloading, {gone} gone")
    print("\nhow the races went:\n" + "\n".join(f"  {n:3d} x {o}" for o, n in sorted(world.outcomes.items())))
