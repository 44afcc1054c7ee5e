"""The launcher's patches to FerretDB (pantau/localstack/cache.py) against the built server:
`_id: {$in}` is answered from the `_id` index, and a bulk of replacements by `_id` keeps
MongoDB's results, errors included. Skipped on MongoDB and on an upstream FerretDB."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, ReplaceOne, UpdateOne
from pymongo.collection import Collection

from pantau.localstack.config import FERRETDB_PATCH_LEVEL
from pantau.localstack.testing import Infra

pytestmark = pytest.mark.integration

IMMUTABLE_FIELD = 66


@pytest.fixture(scope="module")
def client(infra: Infra) -> Iterator[MongoClient[Any]]:
    mongo: MongoClient[Any] = MongoClient(infra.mongo_url, serverSelectionTimeoutMS=10_000)
    version = mongo.admin.command("buildInfo").get("ferretdbVersion")
    if version is None or "-pantau." not in version:
        mongo.close()
        pytest.skip(f"not the launcher's FerretDB (ferretdbVersion {version!r})")
    yield mongo
    mongo.close()


@pytest.fixture
def collection(client: MongoClient[Any]) -> Iterator[Collection[Any]]:
    name = f"pantau_patches_{uuid.uuid4().hex[:8]}"
    yield client[name]["docs"]
    client.drop_database(name)


def test_the_server_reports_the_current_patch_level(client: MongoClient[Any]) -> None:
    # What reporting reads to know `$in` is indexed; a stale binary would say pantau.1.
    version = client.admin.command("buildInfo")["ferretdbVersion"]
    assert version.endswith(f"-{FERRETDB_PATCH_LEVEL}")


def test_id_in_is_answered_from_the_id_index(collection: Collection[Any]) -> None:
    collection.insert_many([{"_id": f"r{i}", "n": i} for i in range(50)])

    plan = collection.database.command(
        "explain", {"find": collection.name, "filter": {"_id": {"$in": ["r3", "r7"]}}}
    )
    scan = collection.database.command(
        "explain", {"find": collection.name, "filter": {"n": {"$in": [3, 7]}}}
    )

    assert plan["filterPushdown"] is True
    assert any("USING INDEX" in step for step in plan["queryPlanner"]["Plan"])
    assert scan["filterPushdown"] is False  # other fields are still scanned


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["r3", "r7", "missing"], {"r3", "r7"}),
        ([f"r{i}" for i in range(0, 1500, 1)], {f"r{i}" for i in range(60)}),  # > the cap
        (["r3", 7], {"r3", 7}),  # a number among the ids: not pushed down, still right
    ],
)
def test_id_in_finds_exactly_the_matching_documents(
    collection: Collection[Any], ids: list[Any], expected: set[Any]
) -> None:
    collection.insert_many([{"_id": f"r{i}", "n": i} for i in range(60)] + [{"_id": 7}])

    found = {doc["_id"] for doc in collection.find({"_id": {"$in": ids}})}
    narrowed = {doc["_id"] for doc in collection.find({"_id": {"$in": ids}, "n": {"$lt": 5}})}

    assert found == expected
    assert narrowed == {i for i in expected if isinstance(i, str) and int(i[1:]) < 5}


def test_a_bulk_of_replacements_by_id_replaces_whole_documents(
    collection: Collection[Any],
) -> None:
    collection.insert_many([{"_id": f"r{i}", "old": True, "n": i} for i in range(30)])

    result = collection.bulk_write(
        [ReplaceOne({"_id": f"r{i}"}, {"n": i * 10, "tags": ["a"]}) for i in range(30)]
        + [ReplaceOne({"_id": "absent"}, {"n": -1})],
        ordered=True,
    )

    assert (result.matched_count, result.modified_count, result.upserted_count) == (30, 30, 0)
    stored = {doc["_id"]: doc for doc in collection.find({})}
    assert stored["r4"] == {"_id": "r4", "n": 40, "tags": ["a"]}
    assert list(stored["r4"]) == ["_id", "n", "tags"]  # _id first, as MongoDB keeps it
    assert "absent" not in stored  # no upsert asked: nothing created
    assert len(stored) == 30


def test_a_replacement_changing_the_id_fails_as_upstream(collection: Collection[Any]) -> None:
    # Left to FerretDB's own path, so answered exactly as upstream 1.24 answers it (which
    # reports the statement's index as 0 and no counts: the raw reply, not pymongo's).
    collection.insert_many([{"_id": f"r{i}", "n": i} for i in range(3)])

    reply = collection.database.command(
        "update",
        collection.name,
        updates=[
            {"q": {"_id": "r0"}, "u": {"n": 100}},
            {"q": {"_id": "r1"}, "u": {"_id": "other", "n": 101}},
            {"q": {"_id": "r2"}, "u": {"n": 102}},
        ],
        ordered=True,
    )

    assert [e["code"] for e in reply["writeErrors"]] == [IMMUTABLE_FIELD]
    # Ordered: the statement before the bad one is applied, the one after is not.
    assert [doc["n"] for doc in collection.find({}).sort("_id", 1)] == [100, 1, 2]


def test_a_bulk_mixing_operators_and_upserts_keeps_its_meaning(
    collection: Collection[Any],
) -> None:
    collection.insert_many([{"_id": "r0", "n": 0}, {"_id": "r1", "n": 1}])

    result = collection.bulk_write(
        [
            ReplaceOne({"_id": "r0"}, {"n": 10}),
            UpdateOne({"_id": "r1"}, {"$inc": {"n": 5}}),
            ReplaceOne({"_id": "r2"}, {"n": 20}, upsert=True),
        ],
        ordered=True,
    )

    assert result.upserted_count == 1
    assert {doc["_id"]: doc["n"] for doc in collection.find({})} == {"r0": 10, "r1": 6, "r2": 20}
