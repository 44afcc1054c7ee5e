"""Topic names and partition counts.

Topics are created with explicit partition counts at service start-up (see
``pantau.shared.kafka.ensure_topics``). ``PANTAU_TOPIC_PREFIX`` lets a test run
use its own topics beside a running local stack.
"""

from dataclasses import dataclass

SUBMITTED = "pantau.reports.submitted"
CLASSIFIED = "pantau.reports.classified"
ALERTS = "pantau.alerts"
STATUS = "pantau.reports.status"

DLQ_SUFFIX = ".dlq"

# Partitions bound how many consumer replicas can share a topic. Twelve lets a
# group scale to 12 replicas per service without re-partitioning (which would
# re-shuffle keys and break per-report ordering for in-flight events).
DEFAULT_PARTITIONS = {SUBMITTED: 12, CLASSIFIED: 12, ALERTS: 6, STATUS: 6}
DLQ_PARTITIONS = 1


@dataclass(frozen=True)
class Topics:
    """The project's topic names under an optional prefix."""

    prefix: str = ""

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def submitted(self) -> str:
        return self.name(SUBMITTED)

    @property
    def classified(self) -> str:
        return self.name(CLASSIFIED)

    @property
    def alerts(self) -> str:
        return self.name(ALERTS)

    @property
    def status(self) -> str:
        return self.name(STATUS)

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}{DLQ_SUFFIX}"

    def all_with_partitions(self) -> dict[str, int]:
        """Every topic and its DLQ, with the partition count to create it with."""
        out: dict[str, int] = {}
        for base, partitions in DEFAULT_PARTITIONS.items():
            out[self.name(base)] = partitions
            out[self.dlq(self.name(base))] = DLQ_PARTITIONS
        return out
