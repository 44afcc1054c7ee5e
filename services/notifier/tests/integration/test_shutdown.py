"""Shutdown is bounded even when Kafka will not let the consumer go."""

import asyncio
import time

import pytest
from faststream.kafka import KafkaBroker

from pantau.notifier import main


async def test_a_broker_that_never_stops_does_not_hold_shutdown(
    notifier_config, notifier_runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = KafkaBroker.stop

    async def hangs(self: KafkaBroker, *args: object, **kwargs: object) -> None:
        await asyncio.Event().wait()  # as a consumer stuck leaving its group

    monkeypatch.setattr(main, "SHUTDOWN_STEP_SECONDS", 0.5)
    async with notifier_runner(notifier_config()) as running:
        assert (await running.http.get("/readyz")).status_code == 200
        monkeypatch.setattr(KafkaBroker, "stop", hangs)
        started = time.monotonic()
    # Without the bound the runner's own 30 s wait for the server raises TimeoutError.
    assert time.monotonic() - started < 20
    monkeypatch.setattr(KafkaBroker, "stop", stop)
