"""``python -m pantau.classifier``: the classifier on 127.0.0.1:PANTAU_HTTP_PORT (8003)."""

import logging
import sys

import uvicorn

from pantau.classifier.config import SERVICE, Config
from pantau.classifier.core import RulesError
from pantau.classifier.main import create_app
from pantau.shared.telemetry import configure_logging

log = logging.getLogger("pantau.classifier")


def main() -> None:
    """Load the rules (failing loudly on a bad file), then serve until stopped."""
    configure_logging(SERVICE)
    config = Config()  # type: ignore[call-arg]
    try:
        app = create_app(config)
    except RulesError as exc:
        # The message names the file and line; a service with broken rules must not run.
        log.critical("invalid rules file: %s", exc)
        print(f"pantau-classifier: invalid rules file: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    uvicorn.run(
        app,
        host=config.http_host,
        port=config.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
