"""The service Dockerfiles: multi-stage wheel build, non-root runtime, health check on
the port the service's Config listens on, and the module that starts it."""

import importlib.util
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "reporting", "notifier", "classifier")
SMTP_SINK_DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "smtp-sink.Dockerfile"
ALL_DOCKERFILES = [REPO_ROOT / "services" / s / "Dockerfile" for s in SERVICES] + [
    SMTP_SINK_DOCKERFILE
]
RUNTIME_BASE = "python:3.11-slim"
HEALTHCHECK_SCRIPT = "deploy/docker/healthcheck.py"


def shell_commands(run_value: str) -> list[list[str]]:
    """Split a shell-form RUN into its ``&&``-chained commands, each as argv."""
    commands, current = [], []
    for token in shlex.split(run_value):
        if token == "&&":
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    return commands


def user_id(user: str) -> str:
    return user.split(":")[0]


@pytest.fixture(params=ALL_DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def any_dockerfile(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture(params=SERVICES)
def svc(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stages(svc: str, dockerfile_stages: Callable[[Path], list[Any]]) -> list[Any]:
    return dockerfile_stages(REPO_ROOT / "services" / svc / "Dockerfile")


def test_build_is_multi_stage_with_a_slim_runtime(
    any_dockerfile: Path, dockerfile_stages: Callable[[Path], list[Any]]
) -> None:
    stages = dockerfile_stages(any_dockerfile)
    assert len(stages) >= 2
    assert [s.name for s in stages] == ["builder", "runtime"]
    assert stages[-1].base_image == RUNTIME_BASE
    copies_from_builder = [c.value for c in stages[-1].all("COPY") if c.flag("from") == "builder"]
    assert copies_from_builder == [("/opt/venv", "/opt/venv")], "runtime takes only the venv"
    assert stages[-1].env()["PATH"].startswith("/opt/venv/bin:")


def test_runtime_runs_as_a_non_root_user_it_creates(
    any_dockerfile: Path, dockerfile_stages: Callable[[Path], list[Any]]
) -> None:
    runtime = dockerfile_stages(any_dockerfile)[-1]
    users = runtime.all("USER")
    assert users, "the runtime stage must switch to an unprivileged user"
    uid = user_id(users[-1].value[0])
    assert uid.isdigit() and int(uid) != 0, f"numeric non-root uid expected, got {uid!r}"
    # USER must come before CMD/HEALTHCHECK take effect: nothing after it may switch back.
    last_user_line = users[-1].line
    assert all(i.cmd != "USER" for i in runtime.instructions if i.line > last_user_line)
    created = [
        argv
        for run in runtime.all("RUN")
        for argv in shell_commands(run.value[0])
        if argv and argv[0] == "useradd"
    ]
    assert any(argv[argv.index("--uid") + 1] == uid for argv in created if "--uid" in argv)


def test_copied_sources_exist_in_the_build_context(
    any_dockerfile: Path, dockerfile_stages: Callable[[Path], list[Any]]
) -> None:
    for stage in dockerfile_stages(any_dockerfile):
        for copy in stage.all("COPY"):
            if copy.flag("from") is None:
                for source in copy.value[:-1]:
                    assert (REPO_ROOT / source).exists(), f"{any_dockerfile}: no {source}"


def test_builder_installs_shared_and_the_service_as_wheels_into_a_venv(
    svc: str, stages: list[Any]
) -> None:
    builder = stages[0]
    argvs = [argv for run in builder.all("RUN") for argv in shell_commands(run.value[0])]
    assert ["python", "-m", "venv", "/opt/venv"] in argvs
    wheel = next(a for a in argvs if a[:2] == ["/opt/venv/bin/pip", "wheel"])
    assert {"./shared", f"./services/{svc}"} <= set(wheel)
    wheel_dir = wheel[wheel.index("--wheel-dir") + 1]
    install = next(a for a in argvs if a[:2] == ["/opt/venv/bin/pip", "install"])
    assert "--no-index" in install, "install only the wheels just built"
    assert install[install.index("--find-links") + 1] == wheel_dir
    assert {"pantau-shared", f"pantau-{svc}"} <= set(install)


def test_the_builder_wheels_contain_the_runnable_service(svc: str, tmp_path: Path) -> None:
    """Build the two wheels the builder stage builds and look inside: the image runs
    ``python -m pantau.<svc>`` from exactly these files (not from an editable checkout)."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling (the packages' build backend) not installed in this venv")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), "./shared", f"./services/{svc}"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    names: set[str] = set()
    for wheel in tmp_path.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names |= set(archive.namelist())
    assert "pantau/__init__.py" not in names, "pantau is a namespace package (PEP 420)"
    for root in (REPO_ROOT / "shared" / "src", REPO_ROOT / "services" / svc / "src"):
        # Every source file, templates and static assets included, must reach the image.
        expected = {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert expected, f"no sources under {root}"
        assert expected <= names, f"missing from the wheels: {sorted(expected - names)}"


def test_healthcheck_probes_readyz_on_the_config_port(
    svc: str, stages: list[Any], service_config: Callable[..., Any]
) -> None:
    port = service_config(svc).http_port
    runtime = stages[-1]
    env = runtime.env()
    assert env["PANTAU_HTTP_PORT"] == str(port)
    assert env["PANTAU_HTTP_HOST"] == "0.0.0.0"
    assert [e.value for e in runtime.all("EXPOSE")] == [(str(port),)]
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert healthcheck.json and healthcheck.value[0] == "CMD"
    script = healthcheck.value[2]
    assert healthcheck.value[1] == "python"
    copied = {c.value[-1]: c.value[0] for c in runtime.all("COPY") if c.flag("from") is None}
    assert copied[script] == HEALTHCHECK_SCRIPT
    # Without an argument the script probes http://127.0.0.1:$PANTAU_HTTP_PORT/readyz
    # (tests/compose/test_healthcheck_script.py runs it for real).
    assert healthcheck.value[3:] == ()


def test_every_pantau_variable_in_the_image_is_a_config_field(
    svc: str, stages: list[Any], service_config: Callable[..., Any]
) -> None:
    config = service_config(svc)
    variables = [name for name in stages[-1].env() if name.startswith("PANTAU_")]
    assert variables
    unknown = [name for name in variables if not config.reads(name)]
    assert not unknown, f"{svc}'s Config has no field for {unknown}"


def test_cmd_starts_the_service_module(svc: str, stages: list[Any]) -> None:
    (cmd,) = stages[-1].all("CMD")
    assert cmd.json, "exec form, so signals reach python (graceful shutdown)"
    assert cmd.value == ("python", "-m", f"pantau.{svc}")
    if importlib.util.find_spec(f"pantau.{svc}.__main__") is None:
        pytest.skip(f"pantau/{svc}/__main__.py does not exist yet: this check waits for it")


def test_hadolint_has_no_findings(any_dockerfile: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed: pip install -r requirements-dev.txt")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(any_dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
