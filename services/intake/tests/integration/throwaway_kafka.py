"""A private single-node Kafka (KRaft) on free ports, which a test may stop and restart.

The shared development broker must never be stopped, so outage tests start their own
from the broker jars the local launcher fetched (``PANTAU_TEST_KAFKA_LIBS``).
"""

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from pantau.localstack.testing import free_port

DEFAULT_LIBS = "/tmp/kafkatest/libs"


def kafka_libs() -> Path | None:
    """Where the broker jars are, or ``None`` when this machine has none (or no Java)."""
    libs = Path(os.environ.get("PANTAU_TEST_KAFKA_LIBS", DEFAULT_LIBS))
    if shutil.which("java") is None or not any(libs.glob("kafka_2.13-*.jar")):
        return None
    return libs


class ThrowawayKafka:
    """``start()``/``stop()`` keep the same ports and data, like a broker restart."""

    def __init__(self, *, libs: Path, workdir: Path) -> None:
        self._libs = libs
        self._workdir = workdir
        self.port = free_port()
        self._controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._properties = workdir / "server.properties"
        self._properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self._controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self._controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={workdir / 'data'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._java(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self._properties),
            wait=True,
        )

    def _java(self, *args: str, wait: bool) -> subprocess.Popen[bytes]:
        command = [
            "java",
            "-Xmx384m",
            "-XX:+UseSerialGC",
            "-cp",
            f"{self._libs}/*",
            *args,
        ]
        log = (self._workdir / "kafka.log").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            assert process.wait(timeout=120) == 0, (self._workdir / "kafka.log").read_text()
        return process

    def start(self) -> None:
        """Start the broker process (returns at once; wait for readiness separately)."""
        assert self._process is None
        self._process = self._java("kafka.Kafka", str(self._properties), wait=False)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and wait for it to exit."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None
