"""How many requests per second one generator process can send on this machine.

Drives the bare stand-in (``pantau.bench.stub``) at a rate no single process can
reach, with 1..N processes, and reports what each setting achieved; the benchmark
proper then knows how many processes its target rate needs.
"""

import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from pantau.bench.loadgen import launch
from pantau.bench.stats import Distribution, rate


@dataclass(frozen=True)
class Calibration:
    workers: int
    target_rate: float
    requests: int
    achieved_rate: float
    http: Distribution | None
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StubServer:
    """The stand-in API in its own process, on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "StubServer":
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "pantau.bench.stub", str(self.port)]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("the stand-in server did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def calibrate(
    *, url: str, workers: int, count: int, target_rate: float, concurrency: int
) -> Calibration:
    """Send ``count`` requests at ``target_rate`` from ``workers`` processes; time them."""
    generators = launch(
        workers=workers,
        count=count,
        rate=target_rate,
        seed=int(time.time()),
        intake_url=url,
        monitor_tokens=("calibration",),
        concurrency=concurrency,
    )
    generators.wait_ready()
    generators.start()
    results = generators.collect(timeout=count / 50 + 60)
    submissions = [s for w in results for s in w.submissions]
    ok = [s for s in submissions if s.status == 202]
    first = min(s.sent_at for s in submissions)
    last = max(s.sent_at + s.http_seconds for s in submissions)
    return Calibration(
        workers=workers,
        target_rate=target_rate,
        requests=len(submissions),
        achieved_rate=rate(len(ok), last - first),
        http=Distribution.of(s.http_seconds for s in ok),
        errors=len(submissions) - len(ok),
    )
