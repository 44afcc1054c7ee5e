"""Fixtures for the container-build checks: the parsed compose file, the parsed
Dockerfiles and each service's ``Config`` class.

There is no Docker engine on the development machines, so these tests check the
files against the code instead of running the images: ports and variables must
match what the services actually read.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SERVICES = ("intake", "reporting", "notifier", "classifier")
INFRA = ("kafka", "mongo", "smtp-sink")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction as the official (Go) parser sees it."""

    cmd: str
    flags: tuple[str, ...]
    value: tuple[str, ...]
    json: bool
    line: int

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value``, or ``None`` when the flag is absent."""
        prefix = f"--{name}="
        return next((f.removeprefix(prefix) for f in self.flags if f.startswith(prefix)), None)


@dataclass(frozen=True)
class Stage:
    """One build stage: its ``FROM`` line and the instructions up to the next one."""

    base_image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]

    def env(self) -> dict[str, str]:
        """Every ``ENV key=value`` of the stage (later ones win, as in Docker)."""
        out: dict[str, str] = {}
        for instruction in self.all("ENV"):
            pairs = instruction.value
            out.update(zip(pairs[0::2], pairs[1::2], strict=True))
        return out


def parse_dockerfile(path: Path) -> list[Stage]:
    """Split a Dockerfile into its stages using the ``dockerfile`` package (Go parser)."""
    dockerfile = pytest.importorskip(
        "dockerfile", reason="the Dockerfile parser: pip install -r requirements-dev.txt"
    )
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: tuple[str, str | None] | None = None
    for command in dockerfile.parse_file(str(path)):
        instruction = Instruction(
            cmd=command.cmd.upper(),
            flags=tuple(command.flags),
            value=tuple(command.value),
            json=command.json,
            line=command.start_line,
        )
        if instruction.cmd == "FROM":
            if header is not None:
                stages.append(Stage(header[0], header[1], tuple(current)))
            image, *rest = instruction.value
            alias = rest[1] if len(rest) == 2 and rest[0].upper() == "AS" else None
            header, current = (image, alias), []
        else:
            current.append(instruction)
    if header is not None:
        stages.append(Stage(header[0], header[1], tuple(current)))
    return stages


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml as plain data (YAML merge keys resolved by PyYAML)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ServiceConfig:
    """A service's ``Config`` class and what the container files must agree with."""

    service: str
    cls: type[BaseSettings]

    @property
    def http_port(self) -> int:
        """The port the service listens on when ``PANTAU_HTTP_PORT`` is unset."""
        field = self.cls.model_fields.get("http_port")
        assert field is not None, f"pantau.{self.service}.config.Config has no http_port"
        assert isinstance(field.default, int), f"http_port default is {field.default!r}"
        return field.default

    def reads(self, variable: str) -> bool:
        """True when ``variable`` (``PANTAU_*``) sets a field of this Config."""
        prefix = str(self.cls.model_config.get("env_prefix", ""))
        if not variable.upper().startswith(prefix.upper()):
            return False
        # pydantic-settings matches names case-insensitively by default.
        return variable[len(prefix) :].lower() in self.cls.model_fields

    def required_variables(self) -> set[str]:
        """Variables the service cannot start without (fields with no default)."""
        prefix = str(self.cls.model_config.get("env_prefix", "")).upper()
        return {
            f"{prefix}{name.upper()}"
            for name, field in self.cls.model_fields.items()
            if field.is_required()
        }


@pytest.fixture(scope="session")
def service_config() -> Callable[[str], ServiceConfig]:
    """Import ``pantau.<svc>.config.Config``; skip (loudly) while that service is unwritten."""

    def load(service: str) -> ServiceConfig:
        module_name = f"pantau.{service}.config"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, f"pantau.{service}"):
                raise  # the module exists but one of its imports is broken: a real failure
            pytest.skip(f"{module_name} does not exist yet: this check waits for it")
        assert issubclass(module.Config, BaseSettings)
        return ServiceConfig(service=service, cls=module.Config)

    return load


@pytest.fixture(scope="session")
def dockerfile_stages() -> Callable[[Path], list[Stage]]:
    """The parser of Dockerfiles, as a fixture so test modules need no imports from here."""
    return parse_dockerfile
