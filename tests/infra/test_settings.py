"""Start-up configuration: a bad `CRISISDESK_*` value stops the process and names the variable."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from infra.codec import Keyring
from infra.settings import Environment, LogFormat, SettingsError, load_settings

CLI = str(Path(sys.executable).parent / "crisisdesk")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from an environment without any CRISISDESK_* variable."""
    for name in list(os.environ):
        if name.startswith("CRISISDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CRISISDESK_DATA_DIR", str(tmp_path))


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.api_port == 8000
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_ui_port == 8233
    assert settings.log_format is LogFormat.CONSOLE
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'crisisdesk.db').resolve()}"


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISDESK_API_PORT", "9001")
    monkeypatch.setenv("CRISISDESK_DATABASE_URL", "postgresql://app@db:5432/crisisdesk")
    monkeypatch.setenv("CRISISDESK_TEMPORAL_ADDRESS", "temporal:7233")
    monkeypatch.setenv("CRISISDESK_LOG_FORMAT", "json")
    monkeypatch.setenv("CRISISDESK_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.api_port == 9001
    assert settings.resolved_database_url == "postgresql://app@db:5432/crisisdesk"
    assert settings.temporal_address == "temporal:7233"
    assert settings.log_format is LogFormat.JSON
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CRISISDESK_API_PORT", "notaport"),
        ("CRISISDESK_API_PORT", "70000"),
        ("CRISISDESK_DATABASE_URL", "mysql://x"),
        ("CRISISDESK_LOG_FORMAT", "xml"),
        ("CRISISDESK_LOG_LEVEL", "LOUD"),
        ("CRISISDESK_TEMPORAL_ADDRESS", "nohostport"),
        ("CRISISDESK_TEMPORAL_ADDRESS", "temporal:port"),
        ("CRISISDESK_ENVIRONMENT", "staging"),
        ("CRISISDESK_SMTP_PORT", "0"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert f"{variable}:" in message
    # Only the bad variable is blamed.
    assert message.count("CRISISDESK_") == 1


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISDESK_API_PORT", "abc")
    monkeypatch.setenv("CRISISDESK_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "CRISISDESK_API_PORT" in str(refused.value)
    assert "CRISISDESK_LOG_FORMAT" in str(refused.value)


def test_production_without_encryption_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISDESK_ENVIRONMENT", "production")
    monkeypatch.setenv("CRISISDESK_DATABASE_URL", "postgresql://app@db/crisisdesk")
    with pytest.raises(SettingsError, match="CRISISDESK_ENCRYPTION_KEYS"):
        load_settings()


def test_production_on_sqlite_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISDESK_ENVIRONMENT", "production")
    monkeypatch.setenv("CRISISDESK_ENCRYPTION_KEYS", Keyring.generate("p1").render())
    with pytest.raises(SettingsError, match="CRISISDESK_DATABASE_URL"):
        load_settings()


def _production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISDESK_ENVIRONMENT", "production")
    monkeypatch.setenv("CRISISDESK_ENCRYPTION_KEYS", Keyring.generate("p1").render())
    monkeypatch.setenv("CRISISDESK_DATABASE_URL", "postgresql://app@db/crisisdesk")
    monkeypatch.setenv("CRISISDESK_ACK_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CRISISDESK_DECISION_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CRISISDESK_AUDIT_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CRISISDESK_PUBLIC_URL", "https://crisisdesk.example.org")
    monkeypatch.setenv("CRISISDESK_METRICS_TOKEN", secrets.token_urlsafe(32))
    monkeypatch.setenv("CRISISDESK_TEMPORAL_TLS_CERT", "/run/crisisdesk/tls/client.pem")
    monkeypatch.setenv("CRISISDESK_TEMPORAL_TLS_KEY", "/run/crisisdesk/tls/client.key")


def test_production_with_keys_and_postgresql_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    assert load_settings().environment is Environment.PRODUCTION


@pytest.mark.parametrize(
    "missing",
    [
        ("CRISISDESK_TEMPORAL_TLS_CERT", "CRISISDESK_TEMPORAL_TLS_KEY"),
        ("CRISISDESK_TEMPORAL_TLS_CERT",),
        ("CRISISDESK_TEMPORAL_TLS_KEY",),
    ],
)
def test_production_without_mutual_tls_to_temporal_is_refused(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    """Whoever reaches Temporal's port without a client certificate must be turned away, so the
    API and the workers present one: production does not start without it."""
    _production(monkeypatch)
    for variable in missing:
        monkeypatch.delenv(variable)
    with pytest.raises(SettingsError, match="CRISISDESK_TEMPORAL_TLS_KEY"):
        load_settings()


def test_development_needs_no_temporal_certificate() -> None:
    assert load_settings().temporal_tls_cert is None


def test_production_without_an_audit_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    monkeypatch.delenv("CRISISDESK_AUDIT_KEY")
    with pytest.raises(SettingsError, match="CRISISDESK_AUDIT_KEY is required"):
        load_settings()


def test_production_without_an_ack_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    monkeypatch.delenv("CRISISDESK_ACK_KEY")
    with pytest.raises(SettingsError, match="CRISISDESK_ACK_KEY is required"):
        load_settings()


def test_production_without_a_decision_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    monkeypatch.delenv("CRISISDESK_DECISION_KEY")
    with pytest.raises(SettingsError, match="CRISISDESK_DECISION_KEY is required"):
        load_settings()


def test_production_with_the_example_database_password_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production(monkeypatch)
    monkeypatch.setenv("CRISISDESK_DATABASE_URL", "postgresql://crisisdesk:changeme@db/crisisdesk")
    with pytest.raises(SettingsError, match="placeholder password"):
        load_settings()


def test_a_temporal_client_certificate_without_its_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRISISDESK_TEMPORAL_TLS_CERT", "/run/tls/client.pem")
    with pytest.raises(SettingsError, match="CRISISDESK_TEMPORAL_TLS_KEY"):
        load_settings()


def test_production_with_a_plain_http_public_url_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production(monkeypatch)
    monkeypatch.setenv("CRISISDESK_PUBLIC_URL", "http://crisisdesk.example.org")
    with pytest.raises(SettingsError, match="CRISISDESK_PUBLIC_URL must be https"):
        load_settings()


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode()])
def test_an_ack_key_that_is_not_32_bytes_of_base64_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("CRISISDESK_ACK_KEY", key)
    with pytest.raises(SettingsError, match="CRISISDESK_ACK_KEY"):
        load_settings()


def test_seed_refuses_in_production(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRISISDESK_")},
        "CRISISDESK_ENVIRONMENT": "production",
        "CRISISDESK_ENCRYPTION_KEYS": Keyring.generate("p1").render(),
        # Never reached: seed refuses before it opens the database.
        "CRISISDESK_DATABASE_URL": "postgresql://app@127.0.0.1:1/crisisdesk",
        "CRISISDESK_ACK_KEY": base64.b64encode(os.urandom(32)).decode(),
        "CRISISDESK_DECISION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "CRISISDESK_AUDIT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "CRISISDESK_PUBLIC_URL": "https://crisisdesk.example.org",
        "CRISISDESK_METRICS_TOKEN": secrets.token_urlsafe(32),
        "CRISISDESK_TEMPORAL_TLS_CERT": "/run/crisisdesk/tls/client.pem",
        "CRISISDESK_TEMPORAL_TLS_KEY": "/run/crisisdesk/tls/client.key",
        "CRISISDESK_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run([CLI, "seed"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "seed refused" in done.stderr
    assert "token" not in done.stdout.lower()


@pytest.mark.parametrize("variable", ["CRISISDESK_WEBHOOK_SECRET", "CRISISDESK_TWILIO_AUTH_TOKEN"])
@pytest.mark.parametrize("placeholder", ["changeme", "  Secret "])
def test_a_placeholder_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, placeholder: str
) -> None:
    monkeypatch.setenv(variable, placeholder)
    with pytest.raises(SettingsError, match=f"{variable}: .*placeholder"):
        load_settings()


def test_the_cli_stops_with_the_bad_variable_named(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRISISDESK_")},
        "CRISISDESK_API_PORT": "abc",
        "CRISISDESK_DATA_DIR": str(tmp_path / "data"),
    }
    finished = subprocess.run(
        [CLI, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode != 0
    assert "CRISISDESK_API_PORT" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "data" / "crisisdesk.db").exists()
