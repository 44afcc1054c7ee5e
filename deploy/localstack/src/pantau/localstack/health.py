"""Real health checks: each asks the server to do something, not just accept a socket."""

import asyncio
import concurrent.futures
import contextlib
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient
from pymongo.errors import PyMongoError


async def _kafka_cluster(bootstrap: str, timeout: float) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), retry_backoff_ms=50
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        # A broker that answers metadata but has no controller yet cannot create topics.
        return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) != -1
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    # A probe of a broker that is still starting fails on purpose; aiokafka would log
    # each refused connection as an error.
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _run_coroutine_blocking(coro: Coroutine[None, None, bool]) -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (an async test): run it on a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def kafka_healthy(bootstrap: str, *, timeout: float = 3.0) -> bool:
    """True when the broker answers a DescribeCluster call with a live controller."""
    try:
        with _quiet("aiokafka"):
            return _run_coroutine_blocking(_kafka_cluster(bootstrap, timeout))
    except Exception:  # any failure means "not healthy yet"; the caller retries or reports
        return False


def mongo_healthy(url: str, *, timeout: float = 2.0) -> bool:
    """True when the server answers ``ping``."""
    client: MongoClient[dict[str, object]] = MongoClient(
        url,
        serverSelectionTimeoutMS=int(timeout * 1000),
        connectTimeoutMS=int(timeout * 1000),
        # A server that accepts but never answers must not hang the launcher.
        socketTimeoutMS=int(timeout * 1000),
    )
    try:
        return bool(client.admin.command("ping").get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


def smtp_healthy(host: str, port: int, *, timeout: float = 2.0) -> bool:
    """True when the server accepts a connection and answers EHLO with 250."""
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            code, _ = smtp.ehlo()
            return code == 250
    except (OSError, smtplib.SMTPException):
        return False


def http_ready(url: str, *, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False
