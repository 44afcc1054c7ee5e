"""``python -m pantau.intake``: serve the intake API with uvicorn."""

import gc

import uvicorn

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.telemetry import configure_logging


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    configure_logging("intake")
    config = Config()  # type: ignore[call-arg]
    app = create_app(config)
    # What start-up built (the region list, schemas, the app) lives as long as the
    # process: frozen out of the collector's sight, full collections under load stay
    # short instead of rescanning ~100,000 objects each time (tail latency).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=config.http_host,
        port=config.http_port,
        log_config=None,
        access_log=config.http_access_log,
        # uvloop and httptools (uvicorn[standard]) are what "auto" picks; named here so a
        # missing one fails loudly instead of silently halving throughput.
        loop="uvloop",
        http="httptools",
        # Graceful shutdown: uvicorn waits for in-flight requests (and so their
        # publishes) before the lifespan stops the broker, which flushes the producer.
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
