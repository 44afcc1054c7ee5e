"""Intake settings: the shared Kafka/auth/identity/HTTP settings plus intake's own rules."""

from pydantic import Field, SecretStr

from pantau.shared.settings import (
    AuthSettings,
    HttpSettings,
    IdentitySettings,
    KafkaSettings,
    PantauSettings,
)


class IntakeSettings(PantauSettings):
    """What intake accepts and how hard it tries before answering 503."""

    http_port: int = Field(8000, description="Port the HTTP server listens on.")
    publish_timeout_seconds: float = Field(
        1.5,
        gt=0,
        le=1.9,
        description=(
            "Longest wait for Kafka's acknowledgement before answering 503; below 2 s "
            "so a client hears about an outage within 2 seconds."
        ),
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="`Retry-After` sent with a 503 while Kafka is unreachable."
    )
    broker_startup_wait_seconds: float = Field(
        5.0,
        ge=0,
        description=(
            "How long start-up waits for the first Kafka connection; after that the app "
            "serves (answering 503) and keeps connecting in the background."
        ),
    )
    max_report_age_hours: int = Field(
        24 * 30,
        ge=1,
        description="Oldest `occurred_at` accepted; offline clients may sync days later.",
    )
    max_future_minutes: int = Field(
        10, ge=0, description="How far in the future `occurred_at` may be (clock skew)."
    )
    client_rate_limit: str = Field(
        "1200/minute",
        description="Requests per authenticated client (token subject), `limits` notation.",
    )
    public_rate_limit: str = Field(
        "10/minute", description="Requests per IP address on the public endpoint."
    )
    sms_webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 secret shared with the SMS gateway; unset disables SMS.",
    )
    sms_max_clock_skew_seconds: int = Field(
        300, ge=1, description="Accepted age of an SMS webhook timestamp (replay window)."
    )

    http_access_log: bool = Field(
        False,
        description=(
            "Log one line per HTTP request (uvicorn's access log). Off by default: at "
            "thousands of reports per second it costs throughput, and the "
            "`pantau_http_request*` and `pantau_intake_*` metrics count every request."
        ),
    )

    bench_noop_endpoint: bool = Field(
        False,
        description=(
            "Serve `POST /v1/_bench/noop` (reads the body, answers 202, publishes nothing) "
            "as the baseline of `python -m pantau.intake.bench`. Never enable in production."
        ),
    )


class Config(KafkaSettings, AuthSettings, IdentitySettings, HttpSettings, IntakeSettings):
    """Everything intake reads from ``PANTAU_*`` variables."""
