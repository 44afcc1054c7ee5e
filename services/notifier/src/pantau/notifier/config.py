"""The notifier's settings, one class per component, combined into ``Config``."""

from pathlib import Path

from pydantic import Field, SecretStr

from pantau.shared.settings import (
    AuthSettings,
    HttpSettings,
    KafkaSettings,
    MongoSettings,
    PantauSettings,
)

SERVICE = "notifier"
DATABASE = "pantau_notifier"


class SmtpSettings(PantauSettings):
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(None, description="SMTP login, if the server wants one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    smtp_timeout_seconds: float = Field(10.0, gt=0, description="Per-command SMTP timeout.")
    alert_email_from: str = Field(
        "Pantau <pantau-notifier@pantau.local>", description="From: of alert emails."
    )
    alert_email_to: str = Field(
        "ops@pantau.local",
        description=(
            "Comma-separated addresses of the default route: every report goes to them "
            "when no routes file is configured."
        ),
    )


class ChannelSettings(PantauSettings):
    telegram_api_base: str = Field(
        "https://api.telegram.org", description="Telegram Bot API base URL (tests: a stand-in)."
    )
    telegram_bot_token: SecretStr | None = Field(None, description="Telegram bot token.")
    http_timeout_seconds: float = Field(10.0, gt=0, description="Webhook/Telegram HTTP timeout.")


class NotifierSettings(PantauSettings):
    http_port: int = Field(8002, ge=1, le=65535, description="Port of the notifier's HTTP API.")
    notifier_public_url: str = Field(
        "http://127.0.0.1:8002", description="Base URL of this service, used in ack links."
    )
    notifier_routes_file: Path | None = Field(
        None,
        description=(
            "YAML file with recipients and routes. Unset: one default route sends every "
            "report to PANTAU_ALERT_EMAIL_TO."
        ),
    )
    notifier_group_window_seconds: float = Field(
        0.0,
        ge=0,
        description=(
            "Reports of one (regency, category) arriving within this window are sent as one "
            "grouped message; critical ones go out at once. 0 disables grouping."
        ),
    )
    notifier_sweep_interval_seconds: float = Field(
        1.0, gt=0, description="How often due retries, groups and escalations are processed."
    )
    notifier_escalation_check_seconds: float = Field(
        5.0, gt=0, description="How often passed acknowledgement deadlines are looked for."
    )
    notifier_inline_attempts: int = Field(
        3, ge=1, description="Immediate attempts (with backoff and jitter) before scheduling."
    )
    notifier_max_attempts: int = Field(
        10, ge=1, description="Attempts in total before a delivery is dead-lettered."
    )
    notifier_retry_initial_seconds: float = Field(
        0.5, ge=0, description="First retry delay; grows exponentially, with jitter."
    )
    notifier_retry_max_seconds: float = Field(60.0, ge=0, description="Cap of one retry delay.")
    notifier_ack_minutes_critical: float = Field(
        15.0, gt=0, description="Minutes to acknowledge a critical alert before escalation."
    )
    notifier_ack_minutes_high: float = Field(
        60.0, gt=0, description="Minutes to acknowledge a high alert before escalation."
    )
    notifier_rate_per_recipient_per_minute: float = Field(
        60.0, gt=0, description="Token-bucket refill per recipient and channel, per minute."
    )
    notifier_rate_burst_per_recipient: int = Field(20, ge=1, description="Bucket size.")
    notifier_rate_per_channel_per_second: float = Field(
        20.0, gt=0, description="Token-bucket refill per channel (all recipients)."
    )
    notifier_rate_burst_per_channel: int = Field(50, ge=1, description="Bucket size.")


class Config(
    KafkaSettings,
    MongoSettings,
    AuthSettings,
    HttpSettings,
    SmtpSettings,
    ChannelSettings,
    NotifierSettings,
):
    """Everything the notifier reads from ``PANTAU_*`` variables."""

    @property
    def alert_email_recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_email_to.split(",") if a.strip()]
