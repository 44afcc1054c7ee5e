"""What `pantau dlq replay` sends: each original once, only valid ones, never twice."""

from pantau.cli.dlq import Action, DeadLetter, Decision, contract_error, select
from pantau.shared import envelope as env
from pantau.shared.settings import KafkaSettings
from pantau.shared.testing import submitted

DLQ = "pantau.reports.submitted.dlq"


def letter(
    offset: int, original: int | None, *, group: str = "g", value: bytes = b"ok"
) -> DeadLetter:
    headers = {env.HEADER_DLQ_GROUP: group, env.HEADER_EVENT_TYPE: "report.submitted.v1"}
    if original is not None:
        headers |= {
            env.HEADER_DLQ_ORIGINAL_TOPIC: "pantau.reports.submitted",
            env.HEADER_DLQ_ORIGINAL_PARTITION: "3",
            env.HEADER_DLQ_ORIGINAL_OFFSET: str(original),
        }
    return DeadLetter(DLQ, 0, offset, b"k", value, headers)


def valid_unless_bad(entry: DeadLetter) -> str | None:
    return "bad" if entry.value == b"bad" else None


def actions(decisions: list[Decision]) -> list[Action]:
    return [d.action for d in decisions]


def test_two_groups_entries_for_one_original_are_replayed_once() -> None:
    entries = [letter(0, 7, group="classifier"), letter(1, 7, group="reporting"), letter(2, 8)]
    assert actions(select(entries, validate=valid_unless_bad)) == [
        Action.REPLAY,
        Action.DUPLICATE,
        Action.REPLAY,
    ]


def test_still_invalid_entries_are_kept_unless_forced() -> None:
    entries = [letter(0, 7, value=b"bad"), letter(1, 7, value=b"bad"), letter(2, 8)]
    decisions = select(entries, validate=valid_unless_bad)
    assert actions(decisions) == [Action.INVALID, Action.DUPLICATE, Action.REPLAY]
    assert decisions[0].reason == "bad"
    forced = select(entries, validate=valid_unless_bad, include_invalid=True)
    assert actions(forced) == [Action.REPLAY, Action.DUPLICATE, Action.REPLAY]


def test_what_an_earlier_run_replayed_is_not_sent_again() -> None:
    entries = [letter(0, 7), letter(1, 7), letter(2, 8, value=b"bad")]
    first = select(entries, validate=valid_unless_bad)
    done = {d.letter.identity for d in first if d.action is Action.REPLAY}
    assert done == {"pantau.reports.submitted:3:7"}
    second = select(entries, validate=valid_unless_bad, already_replayed=done)
    # The invalid entry is considered again: it was never sent.
    assert actions(second) == [Action.ALREADY_REPLAYED, Action.ALREADY_REPLAYED, Action.INVALID]


def test_an_entry_without_original_headers_is_its_own_original() -> None:
    entries = [letter(0, None), letter(1, None)]
    assert [e.identity for e in entries] == [f"{DLQ}:0:0", f"{DLQ}:0:1"]
    assert actions(select(entries, validate=valid_unless_bad)) == [Action.REPLAY, Action.REPLAY]
    assert entries[0].original_topic == "pantau.reports.submitted"


def test_the_contract_of_the_original_topic_decides_validity() -> None:
    settings = KafkaSettings(topic_prefix="t1.")
    event = submitted()
    good = DeadLetter("t1." + DLQ, 0, 0, None, event.to_bytes(), {})
    assert contract_error(settings, good) is None
    wrong_version = event.to_bytes().replace(b"report.submitted.v1", b"report.submitted.v9")
    assert "ReportSubmitted" in (
        contract_error(settings, DeadLetter("t1." + DLQ, 0, 1, None, wrong_version, {})) or ""
    )
    assert contract_error(settings, DeadLetter("t1." + DLQ, 0, 2, None, b"{", {})) is not None
    unknown = DeadLetter("t1.other.dlq", 0, 0, None, event.to_bytes(), {})
    assert "no event contract" in (contract_error(settings, unknown) or "")
