"""The Mongo client factory: a stalled store operation fails fast and is retried."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.errors import NetworkTimeout

from pantau.localstack.testing import Infra, wait_for
from pantau.shared.kafka import MessageProcessor
from pantau.shared.mongo import make_mongo_client
from pantau.shared.settings import KafkaSettings, MongoSettings


def test_the_socket_timeout_comes_from_the_settings() -> None:
    client = make_mongo_client(MongoSettings(mongo_socket_timeout_ms=2_500))
    assert client.options.pool_options.socket_timeout == 2.5


def test_the_default_socket_timeout_is_bounded() -> None:
    # Without one, a store that stops answering holds a consumer's partition forever.
    timeout = make_mongo_client(MongoSettings()).options.pool_options.socket_timeout
    assert timeout is not None and timeout <= 60


class FreezableProxy:
    """A TCP proxy to the real store whose replies can be held back, as a stalled
    FerretDB would hold them."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("mongodb://").strip("/").split(":")
        self._upstream = (host, int(port))
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["FreezableProxy"]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        try:
            yield self
        finally:
            self.flowing.set()
            self._server.close()


@pytest.mark.integration
async def test_a_stalled_store_write_times_out_and_is_retried_not_dead_lettered(
    infra: Infra, run_id: str
) -> None:
    published: list[Any] = []

    class Broker:
        async def publish(self, body: bytes, **kwargs: Any) -> None:
            published.append(kwargs)

    failures: list[BaseException] = []

    async def no_backoff(seconds: float) -> None:
        await asyncio.sleep(0)  # the proxy, not the clock, decides when the store heals

    async with FreezableProxy(infra.mongo_url).running() as proxy:
        client = make_mongo_client(
            MongoSettings(mongo_url=proxy.url, mongo_socket_timeout_ms=1_000)
        )
        collection = client[f"pantau_sockettimeout_test_{run_id}"]["docs"]
        await collection.insert_one({"_id": "warm-up"})
        proxy.flowing.clear()

        async def handler(body: bytes, headers: Any) -> None:
            try:
                # An update of an existing document, not an upsert: the timed-out attempt
                # still reaches the store once it flows again, and on FerretDB (no atomic
                # upsert) two upserts of one new _id racing there end in a duplicate key.
                await collection.update_one({"_id": "warm-up"}, {"$set": {"v": 1}})
            except NetworkTimeout as exc:
                failures.append(exc)
                proxy.flowing.set()  # the store recovers after the first timeout
                raise

        # The fields MessageProcessor reads from a FastStream message and its aiokafka record.
        record = SimpleNamespace(topic="t", partition=0, offset=1, key=b"k")
        message = SimpleNamespace(body=b"{}", headers={}, raw_message=record)

        processor = MessageProcessor(
            broker=Broker(),  # type: ignore[arg-type]
            settings=KafkaSettings(max_attempts=1, retry_backoff_seconds=0.01),
            service="test",
            sleep=no_backoff,
        )
        await asyncio.wait_for(processor.process(message, handler), timeout=30)  # type: ignore[arg-type]

        assert failures, "the frozen store never timed out"
        assert published == [], "a store stall must not dead-letter the message"

        async def written() -> bool:
            return await collection.find_one({"_id": "warm-up", "v": 1}) is not None

        await wait_for(written, timeout=10)
        await client.drop_database(collection.database.name)
        await client.close()
