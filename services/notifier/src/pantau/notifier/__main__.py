"""``python -m pantau.notifier``: the notifier on 127.0.0.1:PANTAU_HTTP_PORT (8002)."""

import uvicorn

from pantau.notifier.config import SERVICE, Config
from pantau.notifier.main import create_app
from pantau.shared.telemetry import configure_logging


def main() -> None:
    configure_logging(SERVICE)
    config = Config()  # type: ignore[call-arg]
    uvicorn.run(
        create_app(config),
        host=config.http_host,
        port=config.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
