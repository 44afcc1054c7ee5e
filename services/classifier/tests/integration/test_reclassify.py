"""``pantau reclassify --since``: replays submitted events from Kafka by timestamp and
publishes classified events with the current rules version."""

import asyncio
import json
import time
from pathlib import Path
from uuid import uuid4

import pytest
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from pantau.classifier.cli import register
from pantau.classifier.core.rules import DEFAULT_RULES_PATH
from pantau.shared.kafka import ensure_topics
from pantau.shared.testing import submitted
from pantau.shared.topics import Topics

pytestmark = pytest.mark.integration


def cli() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value, timestamp_ms in items:
            await producer.send_and_wait(topic, value, key=b"k", timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        out: list[dict] = []
        idle = 0
        while idle < 3:  # three empty polls in a row: the topic is drained
            batches = await consumer.getmany(timeout_ms=300)
            records = [r for recs in batches.values() for r in recs]
            idle = 0 if records else idle + 1
            out += [json.loads(r.value) | {"_key": r.key.decode()} for r in records]
        return out
    finally:
        await consumer.stop()


def test_reclassify_since_publishes_the_new_rules_version(
    pantau_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"{pantau_env['PANTAU_TOPIC_PREFIX']}{uuid4().hex[:6]}."
    for key, value in pantau_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PANTAU_TOPIC_PREFIX", prefix)
    topics = Topics(prefix=prefix)
    bootstrap = pantau_env["PANTAU_KAFKA_BOOTSTRAP"]
    now_ms = int(time.time() * 1000)
    old = submitted(description="Banjir merendam TPS 3, pencoblosan ditunda")
    new = [
        submitted(region="32.01.01", description="Banjir merendam TPS 5, pencoblosan ditunda"),
        submitted(region="35.27", description="Ada serangan fajar, amplop dibagi timses"),
    ]
    asyncio.run(ensure_topics(bootstrap, topics.all_with_partitions()))
    asyncio.run(
        produce(
            bootstrap,
            topics.submitted,
            [(old.to_bytes(), now_ms - 3 * 3600_000)]
            + [(e.to_bytes(), now_ms) for e in new]
            + [(b"{poison", now_ms)],
        )
    )

    first = CliRunner().invoke(cli(), ["reclassify", "--since", "1h"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert (summary["read"], summary["published"], summary["skipped"]) == (3, 2, 1)

    # A domain expert edits the rules: new version, BPBD's partner Basarnas added.
    original = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    edited = original.replace('version: "', 'version: "test-edit-', 1).replace(
        "institutions: [KPU, BPBD]", "institutions: [KPU, BPBD, Basarnas]", 1
    )
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(edited, encoding="utf-8")
    second = CliRunner().invoke(cli(), ["reclassify", "--since", "1h", "--rules", str(rules_file)])
    assert second.exit_code == 0, second.output
    new_version = json.loads(second.stdout.strip().splitlines()[-1])["rules_version"]
    assert new_version.startswith("test-edit-")

    out = asyncio.run(read_all(bootstrap, topics.classified))
    by_version: dict[str, dict[str, dict]] = {}
    for event in out:
        by_version.setdefault(event["data"]["rules_version"], {})[event["subject"]] = event
    assert set(by_version) == {summary["rules_version"], new_version}
    for events in by_version.values():
        assert set(events) == {e.subject for e in new}  # the 3-hour-old report is not replayed
    flood = by_version[new_version][new[0].subject]
    assert flood["data"]["institutions"] == ["KPU", "BPBD", "Basarnas"]
    assert flood["_key"] == "32.01"
    assert by_version[new_version][new[1].subject]["_key"] == "35.27"
    assert by_version[summary["rules_version"]][new[0].subject]["data"]["institutions"] == [
        "KPU",
        "BPBD",
    ]
