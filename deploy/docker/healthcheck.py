"""Container health probe: exit 0 when the service's ``/readyz`` answers 2xx, else 1.

The slim Python images ship neither curl nor wget, so the Dockerfiles' HEALTHCHECK
runs this with the image's own interpreter (standard library only). Without an
argument it probes ``http://127.0.0.1:$PANTAU_HTTP_PORT/readyz``; docker-compose.yml
passes the URL explicitly so the probed port is visible there.
"""

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def default_url() -> str:
    """The readiness URL of the service in this container, from ``PANTAU_HTTP_PORT``."""
    return f"http://127.0.0.1:{os.environ['PANTAU_HTTP_PORT']}/readyz"


def probe(url: str) -> bool:
    """True when ``url`` answers with a 2xx status within the timeout."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        # Only the container's own loopback is a sensible target for a health probe.
        raise ValueError(f"refusing to probe {url!r}: not a loopback http URL")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    """Probe the URL in ``argv[1]`` (or the default one); return the process exit code."""
    url = argv[1] if len(argv) > 1 else default_url()
    return 0 if probe(url) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
