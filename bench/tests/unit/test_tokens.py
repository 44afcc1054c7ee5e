import pytest

from pantau.bench.tokens import MissingSecret, load_auth_settings, mint
from pantau.shared.auth import Role, verify_token

SECRET = "x" * 40


def test_secret_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_AUTH_SECRET", SECRET)
    assert load_auth_settings().auth_secret.get_secret_value() == SECRET


def test_secret_is_read_from_var_local_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("PANTAU_AUTH_SECRET", raising=False)
    env_file = tmp_path / "local.env"
    env_file.write_text(f"PANTAU_AUTH_SECRET={SECRET}\n")
    from pantau.shared.settings import AuthSettings

    monkeypatch.setitem(AuthSettings.model_config, "env_file", env_file)
    assert load_auth_settings().auth_secret.get_secret_value() == SECRET


def test_missing_secret_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANTAU_AUTH_SECRET", raising=False)
    from pantau.shared.settings import AuthSettings

    monkeypatch.setitem(AuthSettings.model_config, "env_file", None)
    with pytest.raises(MissingSecret, match="make up"):
        load_auth_settings()


def test_tokens_verify_with_the_stack_secret_and_have_distinct_monitor_subjects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PANTAU_AUTH_SECRET", SECRET)
    settings = load_auth_settings()
    tokens = mint(settings=settings, monitors=3)
    monitors = [
        verify_token(t, secret=SECRET, issuer=settings.token_issuer) for t in tokens.monitors
    ]
    assert {m.role for m in monitors} == {Role.MONITOR}
    assert len({m.subject for m in monitors}) == 3
    operator = verify_token(tokens.operator, secret=SECRET, issuer=settings.token_issuer)
    assert operator.role == Role.OPERATOR
    with pytest.raises(ValueError, match="at least one"):
        mint(settings=settings, monitors=0)
