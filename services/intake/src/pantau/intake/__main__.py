"""``python -m pantau.intake``: serve the intake API with uvicorn."""

import gc

import uvicorn

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.telemetry import configure_logging

# The collector's thresholds (generation 0 allocations, then collections of the younger
# generation) while serving. A report request creates no reference cycles (checked
# under load with ``gc.DEBUG_SAVEALL``: nothing to collect), so collections find nothing
# and only cost: with the defaults (700, 10, 10) they took about 15% of the CPU at
# thousands of reports per second (hundreds of requests in flight, all young objects,
# traversed again and again) and, with start-up frozen (below), a full collection
# every 100 young ones. Larger thresholds keep the collector for the rare real cycle.
GC_THRESHOLDS = (50_000, 20, 100)


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
    gc.set_threshold(*GC_THRESHOLDS)
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
