"""``python -m pantau.reporting``: the reporting service on ``PANTAU_HTTP_PORT`` (8001)."""

import uvicorn

from pantau.reporting.config import SERVICE, get_config
from pantau.reporting.main import create_app
from pantau.shared.telemetry import configure_logging


def main() -> None:
    """Run the service in the foreground until interrupted."""
    configure_logging(SERVICE)
    config = get_config()
    uvicorn.run(create_app(config), host=config.http_host, port=config.http_port, log_config=None)


if __name__ == "__main__":
    main()
