"""Intake picks each record's partition itself: it must be the one aiokafka's (and the
Java client's) default partitioner would pick for the same key, or reports of one id
would move partitions after the change."""

import os

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from pantau.intake.adapters.kafka import murmur2, partition_for
from pantau.intake.core.ids import report_id_for


def test_murmur2_matches_aiokafka_for_every_length() -> None:
    for length in range(0, 70):
        for _ in range(20):
            data = os.urandom(length)
            assert murmur2(data) == aiokafka_murmur2(data), data


def test_report_ids_land_where_the_default_partitioner_puts_them() -> None:
    default = DefaultPartitioner()
    for partitions in (1, 6, 12, 13):
        numbers = list(range(partitions))
        for index in range(300):
            key = report_id_for(client_id="app", client_report_id=f"id-{index}").encode()
            assert partition_for(key, partitions) == default(key, numbers, numbers)
