from typer.testing import CliRunner

from pantau.cli.main import build_app
from pantau.shared.auth import Role, verify_token

SECRET = "s" * 48


def test_token_create_prints_a_token_the_services_accept(monkeypatch):
    monkeypatch.setenv("PANTAU_AUTH_SECRET", SECRET)
    result = CliRunner().invoke(
        build_app(),
        ["token", "create", "--role", "liaison", "--region", "3201", "--institution", "KPU"],
    )
    assert result.exit_code == 0, result.output
    who = verify_token(result.stdout.strip(), secret=SECRET, issuer="pantau")
    assert who.role is Role.LIAISON
    assert who.region == "32.01"
    assert who.institution == "KPU"


def test_token_create_rejects_an_unknown_region(monkeypatch):
    monkeypatch.setenv("PANTAU_AUTH_SECRET", SECRET)
    result = CliRunner().invoke(
        build_app(), ["token", "create", "--role", "liaison", "--region", "99.99"]
    )
    assert result.exit_code == 2
    assert "not in the Kemendagri list" in result.output


def test_token_create_without_a_secret_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("PANTAU_AUTH_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)  # no var/local.env here
    result = CliRunner().invoke(build_app(), ["token", "create", "--role", "operator"])
    assert result.exit_code == 2
    assert "pantau stack up" in result.output
