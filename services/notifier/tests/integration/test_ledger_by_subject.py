"""The ledger finds a subject's first alerts by id lookups alone: acknowledgements
(every report status change) and escalation notices used to search the whole ledger,
which FerretDB answers by decoding every row ever written."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from pantau.notifier.adapters.outbound.mongo import BY_SUBJECT, LEDGER, MongoLedger
from pantau.notifier.core.models import ChannelKind, Delivery, DeliveryStatus, RenderedMessage
from pantau.shared.events import AlertKind, Category, Severity

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def _delivery(subject: str, recipient: str, kind: AlertKind = AlertKind.INITIAL) -> Delivery:
    return Delivery(
        alert_id=f"alr_{subject}_{recipient}_{kind.value}",
        subject_id=subject,
        report_ids=(subject,),
        recipient_id=recipient,
        channel=ChannelKind.EMAIL,
        target=f"{recipient}@example.test",
        kind=kind,
        region_code="32.01.01.2001",
        regency="32.01",
        category=Category.LOGISTIK,
        severity=Severity.HIGH,
        message=RenderedMessage(subject="s", text="t", data={}),
    )


@pytest.fixture
def db(scratch_db: Any) -> Any:
    return scratch_db


async def _claim(ledger: MongoLedger, delivery: Delivery) -> bool:
    return await ledger.claim(delivery, now=NOW, status=DeliveryStatus.PENDING, note=None)


async def test_subject_rows_come_from_id_lookups_in_claim_order(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = MongoLedger(db)
    await ledger.ensure_indexes()
    for recipient in ["kpu-bogor", "bawaslu-bogor", "kpu-jabar"]:
        assert await _claim(ledger, _delivery("rep-1", recipient))
    assert not await _claim(ledger, _delivery("rep-1", "kpu-bogor"))  # a redelivery
    await _claim(ledger, _delivery("rep-1", "kpu-bogor", AlertKind.UPDATE))
    await _claim(ledger, _delivery("rep-2", "kpu-bogor"))
    await _claim(ledger, _delivery("rep-1", "ketua", AlertKind.ESCALATION))

    filters: list[dict[str, Any]] = []
    find = AsyncCollection.find  # find_one goes through it too

    def spy_find(self: AsyncCollection[Any], filter: Any = None, *a: Any, **k: Any) -> Any:
        if self.name in (LEDGER, BY_SUBJECT):
            filters.append(dict(filter or {}))
        return find(self, filter, *a, **k)

    monkeypatch.setattr(AsyncCollection, "find", spy_find)
    rows = await ledger.subject_rows("rep-1", kind="initial")
    assert [r.delivery.recipient_id for r in rows] == ["kpu-bogor", "bawaslu-bogor", "kpu-jabar"]
    assert [r.delivery.recipient_id for r in await ledger.subject_rows("rep-1", kind="update")] == [
        "kpu-bogor"
    ]
    assert await ledger.subject_rows("rep-3", kind="initial") == []
    assert filters and all(list(f) == ["_id"] and isinstance(f["_id"], str) for f in filters)


async def test_rows_written_before_the_index_are_backfilled_once(db: Any) -> None:
    ledger = MongoLedger(db)
    for recipient in ["kpu-bogor", "kpu-jabar"]:
        await _claim(ledger, _delivery("rep-old", recipient))
    await db[BY_SUBJECT].drop()  # as an older version left the ledger
    await _claim(ledger, _delivery("rep-new", "kpu-bogor"))  # written while it runs
    assert await ledger.backfill_by_subject() == 3
    rows = await ledger.subject_rows("rep-old", kind="initial")
    assert [r.delivery.recipient_id for r in rows] == ["kpu-bogor", "kpu-jabar"]
    assert len(await ledger.subject_rows("rep-new", kind="initial")) == 1  # not doubled
    assert await ledger.backfill_by_subject() == 0  # once
