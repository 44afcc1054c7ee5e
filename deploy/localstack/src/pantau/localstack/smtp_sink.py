"""A local SMTP server (aiosmtpd) that writes every received mail to a file.

``make run`` starts it on 127.0.0.1:1025 writing to ``var/mail/``; tests start
their own on a free port. For outage tests it can *refuse*: every DATA command is then
answered ``421`` (a transient failure; no mail is stored). In-process, set
``sink.handler.refuse``; as a process, SIGUSR1 starts refusing and SIGUSR2 stops.
"""

import asyncio
import email
import email.policy
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _FileHandler:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self.refuse = False  # chaos tests flip this to simulate an outage
        self._seq = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "421 Service not available, try again later"
        self._seq += 1
        name = f"{time.time_ns()}-{self._seq:06d}.eml"
        content: Any = envelope.original_content or envelope.content
        tmp = self.mail_dir / f".{name}.tmp"
        # Write then rename, so a reader never sees half a mail.
        await asyncio.to_thread(tmp.write_bytes, content)
        await asyncio.to_thread(tmp.rename, self.mail_dir / name)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """A running sink; ``messages()`` parses every mail received so far."""

    host: str
    port: int
    mail_dir: Path
    controller: Controller

    @property
    def handler(self) -> _FileHandler:
        return self.controller.handler  # type: ignore[no-any-return]

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for path in sorted(self.mail_dir.glob("*.eml"))
        ]

    def stop(self) -> None:
        self.controller.stop()


def start_sink(mail_dir: Path, *, host: str = "127.0.0.1", port: int = 1025) -> SmtpSink:
    """Start the sink in a background thread and return once it accepts connections."""
    mail_dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(_FileHandler(mail_dir), hostname=host, port=port)
    controller.start()
    return SmtpSink(host=host, port=controller.port, mail_dir=mail_dir, controller=controller)


def main(argv: list[str] | None = None) -> None:
    """``python -m pantau.localstack.smtp_sink``: run the sink until SIGTERM or Ctrl-C."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description="Local SMTP sink writing each mail to a file.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--mail-dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    sink = start_sink(args.mail_dir, host=args.host, port=args.port)

    def refuse(on: bool) -> None:
        sink.handler.refuse = on
        print(f"SMTP sink {'refusing (421)' if on else 'accepting again'}", flush=True)

    signal.signal(signal.SIGUSR1, lambda *_: refuse(True))
    signal.signal(signal.SIGUSR2, lambda *_: refuse(False))
    print(f"SMTP sink on {sink.host}:{sink.port}, writing to {sink.mail_dir}", flush=True)
    stopped.wait()
    sink.stop()


if __name__ == "__main__":
    main()
