"""The report documents this process wrote last, kept to skip reloading them.

A report's events arrive close together (submitted, classified, then its alerts), and
each batch's fold starts by loading the documents it will change. On FerretDB a load is
a round trip plus decoding the whole document in Go, about a quarter of ingest time; the
document this process wrote a moment ago is the current one as long as this process is
its only writer, which FerretDB already requires of reporting (one consumer replica). On
MongoDB a stale copy (another replica wrote since) fails the write's compare-and-swap and
the report is reloaded from the store, so the cache never decides what is written.

Documents are kept as BSON bytes: a third of the memory of the decoded dictionaries, and
decoding one costs tens of microseconds against a millisecond or more for a load.
"""

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import bson
from bson.codec_options import CodecOptions

# Decode like the client does (timezone-aware datetimes), so a cached document equals a
# loaded one.
_CODEC = CodecOptions(tz_aware=True)


class RecentDocuments:
    """Least recently used documents by ``_id``, bounded by their encoded size."""

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._docs: OrderedDict[str, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached documents among ``ids`` (fresh copies: callers may change them)."""
        found: dict[str, dict[str, Any]] = {}
        for doc_id in ids:
            raw = self._docs.get(doc_id)
            if raw is None:
                self.misses += 1
                continue
            self.hits += 1
            self._docs.move_to_end(doc_id)
            found[doc_id] = bson.decode(raw, codec_options=_CODEC)
        return found

    def put(self, doc: dict[str, Any]) -> None:
        """Remember ``doc`` as its ``_id``'s current document."""
        if self._max_bytes <= 0:
            return
        raw = bson.encode(doc)
        doc_id = doc["_id"]
        old = self._docs.pop(doc_id, None)
        if old is not None:
            self._bytes -= len(old)
        self._docs[doc_id] = raw
        self._bytes += len(raw)
        while self._bytes > self._max_bytes and self._docs:
            _, evicted = self._docs.popitem(last=False)
            self._bytes -= len(evicted)

    def forget(self, ids: Iterable[str]) -> None:
        """Drop ``ids``: their stored document may differ from what is cached."""
        for doc_id in ids:
            old = self._docs.pop(doc_id, None)
            if old is not None:
                self._bytes -= len(old)

    def clear(self) -> None:
        """Drop everything (after a write that failed part-way: state unknown)."""
        self._docs.clear()
        self._bytes = 0
