"""The routes file on disk, reloaded when it changes (no restart needed)."""

import hashlib
import logging
from pathlib import Path

from prometheus_client import Counter

from pantau.notifier.core.directory import Directory, default_directory, parse_directory
from pantau.notifier.core.errors import RoutesError
from pantau.notifier.core.routing import Router

log = logging.getLogger(__name__)

RELOADS = Counter(
    "pantau_notifier_routes_reloads_total", "Routes file reloads by outcome.", ["outcome"]
)


def load_directory_file(path: Path) -> Directory:
    """Read and validate a routes file; raises ``RoutesError`` with every problem."""
    return _load(path)[0]


def _load(path: Path) -> tuple[Directory, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesError(f"cannot read {path}: {exc}") from exc
    return parse_directory(text), hashlib.sha256(text.encode()).hexdigest()[:16]


class DirectorySource:
    """The router in force. With a file, a changed file is reloaded on ``refresh()``; an
    invalid new version is logged and ignored, so a typo never silences alerts."""

    def __init__(self, *, path: Path | None, default_email_to: list[str]) -> None:
        self._path = path
        self._stamp: tuple[float, int] | None = None
        if path is None:
            self._router = Router(default_directory(email_to=default_email_to))
            self.version = "default"
        else:
            self._stamp = self._stat()
            directory, self.version = _load(path)
            self._router = Router(directory)

    @property
    def router(self) -> Router:
        return self._router

    def _stat(self) -> tuple[float, int] | None:
        assert self._path is not None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def refresh(self) -> bool:
        """Reload the file if it changed; ``True`` when a new version took effect."""
        if self._path is None:
            return False
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            directory, version = _load(self._path)
        except RoutesError as exc:
            RELOADS.labels("invalid").inc()
            log.error("routes file %s is invalid, keeping the previous one: %s", self._path, exc)
            return False
        self._router = Router(directory)
        self.version = version
        RELOADS.labels("ok").inc()
        log.info(
            "routes reloaded",
            extra={"routes": len(directory.routes), "recipients": len(directory.recipients)},
        )
        return True
