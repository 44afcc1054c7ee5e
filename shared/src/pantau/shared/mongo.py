"""The async MongoDB client factory (PyMongo's ``AsyncMongoClient``, Motor's successor)."""

from typing import Any

from pymongo import AsyncMongoClient

from pantau.shared.settings import MongoSettings


def make_mongo_client(settings: MongoSettings, **kwargs: Any) -> AsyncMongoClient[Any]:
    # Short server selection so readiness and retries notice an outage in seconds,
    # not the driver's default 30 s.
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=kwargs.pop("serverSelectionTimeoutMS", 3000),
        socketTimeoutMS=kwargs.pop("socketTimeoutMS", settings.mongo_socket_timeout_ms),
        tz_aware=True,
        **kwargs,
    )


def database_name(settings: MongoSettings, base: str) -> str:
    return f"{base}{settings.mongo_db_suffix}"


async def ping(client: AsyncMongoClient[Any]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True
