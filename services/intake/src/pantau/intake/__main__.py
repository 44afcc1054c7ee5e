"""``python -m pantau.intake``: serve the intake API with uvicorn."""

import uvicorn

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.telemetry import configure_logging


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    configure_logging("intake")
    config = Config()  # type: ignore[call-arg]
    uvicorn.run(
        create_app(config),
        host=config.http_host,
        port=config.http_port,
        log_config=None,
        # Graceful shutdown: uvicorn waits for in-flight requests (and so their
        # publishes) before the lifespan stops the broker, which flushes the producer.
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
