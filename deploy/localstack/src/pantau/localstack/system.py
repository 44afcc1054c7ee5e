"""Checks on the machine: required tools, the Java version, and who holds a port."""

import errno
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pantau.localstack.config import MIN_JAVA_MAJOR
from pantau.localstack.errors import StackError

_INSTALL_HINTS = {
    "java": "install a JDK 17 or newer, e.g. `sudo apt-get install openjdk-17-jdk-headless`",
    "mvn": "install Maven, e.g. `sudo apt-get install maven`",
    "go": (
        "install Go 1.22 or newer from https://go.dev/dl/ (or install `mongod`, "
        "which the stack then uses instead of building FerretDB)"
    ),
}
# Where a tarball install of Go lives when its bin dir is not on PATH (non-login shells).
_EXTRA_TOOL_DIRS = {"go": [Path("/usr/local/go/bin"), Path.home() / "go" / "bin"]}


def require_tool(name: str, *, purpose: str) -> str:
    """The full path of ``name``, or a StackError saying how to install it."""
    found = shutil.which(name)
    if found is None:
        for directory in _EXTRA_TOOL_DIRS.get(name, []):
            if os.access(directory / name, os.X_OK):
                return str(directory / name)
        raise StackError(
            f"`{name}` is not installed (needed {purpose}).",
            fix=_INSTALL_HINTS.get(name, f"install `{name}` and put it on PATH"),
        )
    return found


def parse_java_major(version_output: str) -> int | None:
    """The major version from ``java -version`` output: ``"17.0.15"`` → 17, ``"1.8.0_392"`` → 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def require_java() -> str:
    """The ``java`` to run Kafka with; fails unless it is Java 17 or newer."""
    java = require_tool("java", purpose="to run the Kafka broker")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA_MAJOR:
        shown = f"Java {major}" if major else "an unknown Java version"
        raise StackError(
            f"`{java}` is {shown}; Kafka 4 needs Java {MIN_JAVA_MAJOR} or newer.",
            fix=(
                "install openjdk-17-jdk-headless (or newer) and select it with "
                "`sudo update-alternatives --config java` or by putting it first on PATH"
            ),
        )
    return java


@dataclass(frozen=True)
class PortOwner:
    pid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "a process this user cannot see (another user, or a container)"
        return f"pid {self.pid} ({self.command or '?'})"


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a bind test, as the server will do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: sockets lingering in TIME_WAIT do not make a port "busy"; listeners do.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (any address) from /proc/net/tcp{,6}."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if len(fields) < 10 or fields[3] != "0A":
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of ``pid`` from /proc, or None when it is gone or not readable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def find_port_owner(port: int) -> PortOwner | None:
    """Who listens on ``port``: walks /proc/<pid>/fd for the listening socket's inode.
    None when nobody listens; ``pid=None`` when the owner is not visible to us."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    argv = read_cmdline(int(proc.name)) or []
                    return PortOwner(pid=int(proc.name), command=" ".join(argv)[:200] or None)
            except OSError:
                continue
    return PortOwner(pid=None, command=None)


def require_free_port(host: str, port: int, *, what: str) -> None:
    """Raise a StackError naming the port and its owner when ``host:port`` is taken."""
    if port_is_free(host, port):
        return
    owner = find_port_owner(port)
    who = owner.describe() if owner else "another process"
    raise StackError(
        f"Port {port} ({what}) on {host} is already in use by {who}.",
        fix=(
            "stop that process, or if it is an old local stack run `pantau stack down` "
            "(`make down`); to use an existing Kafka and MongoDB instead, set "
            "PANTAU_KAFKA_BOOTSTRAP and PANTAU_MONGO_URL"
        ),
    )
