"""The write-through cache of recently written report documents."""

from datetime import UTC, datetime

import bson

from pantau.reporting.adapters.recent import RecentDocuments, estimated_size


def _doc(doc_id: str, *, version: int = 1, text: str = "banjir") -> dict[str, object]:
    at = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    return {"_id": doc_id, "version": version, "occurred_at": at, "description": text}


def test_a_cached_document_comes_back_equal_and_as_a_copy() -> None:
    cache = RecentDocuments(max_bytes=1_000_000)
    cache.put(_doc("a"))
    found = cache.get_many(["a", "b"])
    assert found == {"a": _doc("a")}
    found["a"]["version"] = 99  # a caller setting a field of its copy changes nothing
    assert cache.get_many(["a"])["a"]["version"] == 1
    assert (cache.hits, cache.misses) == (2, 1)


def test_the_newest_put_wins_and_forget_drops() -> None:
    cache = RecentDocuments(max_bytes=1_000_000)
    cache.put(_doc("a", version=1))
    cache.put(_doc("a", version=2))
    assert cache.get_many(["a"])["a"]["version"] == 2
    cache.forget(["a", "never-there"])
    assert cache.get_many(["a"]) == {}
    assert cache.size_bytes == 0


def test_the_least_recently_used_go_first_when_the_budget_is_exceeded() -> None:
    one = estimated_size(_doc("a"))
    assert one >= len(bson.encode(_doc("a"))) // 2  # the estimate is near the real size
    cache = RecentDocuments(max_bytes=3 * one)
    for doc_id in "abc":
        cache.put(_doc(doc_id))
    cache.get_many(["a"])  # a is now the most recently used
    cache.put(_doc("d"))
    assert sorted(cache.get_many("abcd")) == ["a", "c", "d"]
    assert cache.size_bytes <= 3 * one


def test_a_zero_budget_keeps_nothing_and_clear_empties() -> None:
    off = RecentDocuments(max_bytes=0)
    off.put(_doc("a"))
    assert off.get_many(["a"]) == {}
    cache = RecentDocuments(max_bytes=1_000_000)
    cache.put(_doc("a"))
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0
