"""A batch is parsed in one pass when every item is valid, item by item otherwise."""

import json

import pytest

from pantau.intake.adapters.api import _batch_items
from pantau.intake.core.models import ReportIn
from pantau.shared.http import Problem

from ..conftest import report_body


def test_all_valid_items_come_back_parsed() -> None:
    bodies = [report_body() for _ in range(3)]
    items = _batch_items(json.dumps({"reports": bodies}).encode())
    assert all(isinstance(item, ReportIn) for item in items)
    assert [str(item.client_report_id) for item in items] == [b["client_report_id"] for b in bodies]


def test_one_bad_item_leaves_every_item_raw_for_its_own_verdict() -> None:
    bodies = [report_body(), report_body(tps=0), "not an object"]
    items = _batch_items(json.dumps({"reports": bodies}).encode())
    assert items == bodies


@pytest.mark.parametrize("body", [b"{", b'{"reports": []}', b'{"reports": [], "x": 1}'])
def test_a_broken_envelope_is_rejected_as_a_whole(body: bytes) -> None:
    with pytest.raises(Problem) as caught:
        _batch_items(body)
    assert caught.value.status == 422
