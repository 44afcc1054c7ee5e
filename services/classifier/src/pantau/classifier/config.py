"""The classifier's settings, one class per component, combined into ``Config``."""

from pathlib import Path

from pydantic import Field

from pantau.shared.settings import HttpSettings, KafkaSettings, PantauSettings

SERVICE = "classifier"


class ClassifierSettings(PantauSettings):
    http_port: int = Field(8003, ge=1, le=65535, description="Port of the metrics/health API.")
    classifier_rules_file: Path | None = Field(
        None, description="Rules YAML; unset: the rules packaged with the service."
    )
    classifier_batch_max_records: int = Field(
        500, ge=1, le=10_000, description="Most submitted events consumed as one batch."
    )
    classifier_batch_timeout_ms: int = Field(
        50, ge=1, le=10_000, description="Longest wait to fill a batch."
    )


class Config(KafkaSettings, HttpSettings, ClassifierSettings):
    """Everything the classifier reads from ``PANTAU_*`` variables."""
