"""The report documents this process wrote last, kept to skip reloading them.

A report's events arrive close together (submitted, classified, then its alerts), and
each batch's fold starts by loading the documents it will change. On FerretDB a load is
a round trip plus decoding the whole document in Go, about a quarter of ingest time; the
document this process wrote a moment ago is the current one as long as this process is
its only writer, which FerretDB already requires of reporting (one consumer replica). On
MongoDB a stale copy (another replica wrote since) fails the write's compare-and-swap and
the report is reloaded from the store, so the cache never decides what is written.

Documents are kept in their stored form (``stored_form``): flat, with the bulk of each
in two binaries, so the dictionary costs little more memory than its BSON and nothing
is encoded or decoded to cache it. The budget counts an estimate of that size.
"""

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

# Estimated bytes of a key and of a value that is neither text nor binary.
_SLOT_BYTES = 32


class RecentDocuments:
    """Least recently used documents by ``_id``, bounded by their encoded size."""

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._docs: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached documents among ``ids``, as shallow copies: a caller may set a
        field of its copy, but must not change a value in place."""
        found: dict[str, dict[str, Any]] = {}
        for doc_id in ids:
            entry = self._docs.get(doc_id)
            if entry is None:
                self.misses += 1
                continue
            self.hits += 1
            self._docs.move_to_end(doc_id)
            found[doc_id] = dict(entry[0])
        return found

    def put(self, doc: dict[str, Any], *, size: int | None = None) -> None:
        """Remember ``doc`` as its ``_id``'s current document, counted as ``size`` bytes
        (default: ``estimated_size``, for the flat stored form)."""
        if self._max_bytes <= 0:
            return
        doc_id = doc["_id"]
        self.forget([doc_id])
        size = estimated_size(doc) if size is None else size
        self._docs[doc_id] = (doc, size)
        self._bytes += size
        while self._bytes > self._max_bytes and self._docs:
            _, (_, evicted) = self._docs.popitem(last=False)
            self._bytes -= evicted

    def forget(self, ids: Iterable[str]) -> None:
        """Drop ``ids``: their stored document may differ from what is cached."""
        for doc_id in ids:
            old = self._docs.pop(doc_id, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        """Drop everything (after a write that failed part-way: state unknown)."""
        self._docs.clear()
        self._bytes = 0


def estimated_size(doc: dict[str, Any]) -> int:
    """About the bytes ``doc`` holds: its texts and binaries, and a slot per key and
    per other value (lists of texts counted item by item)."""
    size = 0
    for value in doc.values():
        size += _SLOT_BYTES
        if isinstance(value, str | bytes):
            size += len(value)
        elif isinstance(value, list):
            size += sum(
                len(item) if isinstance(item, str | bytes) else _SLOT_BYTES for item in value
            )
    return size + _SLOT_BYTES
