"""Settings shared by several services, read from ``PANTAU_*`` environment variables.

Each service's ``Config`` inherits the classes it needs (as hexkit does), so one
environment variable means the same thing everywhere. ``var/local.env``, written
by the local launcher, is read too; real environment variables win over it.
"""

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pantau.shared.topics import Topics


def _env_file() -> Path:
    return Path(os.environ.get("PANTAU_ENV_FILE", "var/local.env"))


class PantauSettings(BaseSettings):
    """Base for every settings class: ``PANTAU_`` prefix, env file, unknown keys ignored."""

    model_config = SettingsConfigDict(
        env_prefix="PANTAU_", env_file=_env_file(), extra="ignore", frozen=True
    )


class KafkaSettings(PantauSettings):
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    topic_prefix: str = Field(
        "", description="Prefix of every topic name; tests use a unique one per run."
    )
    consumer_group_prefix: str = Field(
        "", description="Prefix of every consumer group id; tests use a unique one per run."
    )
    max_attempts: int = Field(
        5, ge=1, description="Attempts at a failing message before it goes to the DLQ."
    )
    retry_backoff_seconds: float = Field(
        0.2, ge=0, description="First retry delay; doubles per attempt, capped at 5 s."
    )

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    def group_id(self, service: str) -> str:
        return f"{self.consumer_group_prefix}pantau-{service}"


class MongoSettings(PantauSettings):
    mongo_url: str = Field("mongodb://127.0.0.1:27017/", description="MongoDB connection string.")
    mongo_db_suffix: str = Field(
        "", description="Appended to every database name; tests use a unique one per run."
    )
    mongo_socket_timeout_ms: int = Field(
        30_000,
        ge=1_000,
        description=(
            "Longest wait for one store operation's reply. A stalled operation then fails "
            "as a network timeout, which consumers retry as transient, instead of holding "
            "its partition forever."
        ),
    )


class AuthSettings(PantauSettings):
    auth_secret: SecretStr = Field(
        ...,
        min_length=32,
        description="HMAC secret signing bearer tokens; the local launcher generates one.",
    )
    token_issuer: str = Field("pantau", description="`iss` of issued tokens.")
    token_ttl_hours: int = Field(24 * 7, ge=1, description="Lifetime of issued tokens.")


class IdentitySettings(PantauSettings):
    identity_keys: SecretStr = Field(
        ...,
        description=(
            "Reporter-identity keys as `kid:base64key[,kid:base64key...]` (32-byte AES keys). "
            "The first one encrypts; all of them decrypt, so keys can be rotated."
        ),
    )


class HttpSettings(PantauSettings):
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    public_base_url: str = Field(
        "http://127.0.0.1:8001", description="Base URL of reporting, used in alert links."
    )
