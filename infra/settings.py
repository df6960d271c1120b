"""The one settings class: every `CRISISDESK_*` variable, validated once at start-up."""

from __future__ import annotations

import base64
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CRISISDESK_"
_PLACEHOLDERS = {"changeme", "change-me", "secret", "placeholder", "xxx", "todo"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    """Configuration of every CrisisDesk process (API, worker, CLI)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite under the data directory"
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "crisisdesk"
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    temporal_ui_url: str | None = Field(
        default=None,
        description="where staff open the Temporal Web UI (scheme, host, port): the only origin "
        "the codec server answers across origins; http://127.0.0.1:<temporal_ui_port> by default",
    )
    # mTLS to Temporal: our client certificate and key, and the CA that signed the server's.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    decision_key: str | None = Field(
        default=None,
        description="base64 (32+ bytes): the API signs each message that changes an incident, "
        "the worker checks it; Temporal never holds it. Comma-separated when rotating: the "
        "first signs, all verify. Generated under the data dir in development, required in "
        "production",
    )
    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"
    encryption_keys: str | None = Field(
        default=None,
        description="comma-separated key_id:base64(32 bytes); the first encrypts, all decrypt",
    )
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "crisisdesk@localhost"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_base_url: str | None = None
    dispatch_webhook_url: str | None = None
    webhook_secret: str | None = None
    ack_key: str | None = Field(
        default=None,
        description="base64 of at least 32 random bytes: signs ack links (not shared with "
        "any provider); generated under the data directory in development",
    )
    public_url: str = "http://127.0.0.1:8000"
    audit_key: str | None = Field(
        default=None,
        description="base64 (32+ bytes): keys the audit chain; generated under the data dir "
        "in development, required in production",
    )
    metrics_token: str | None = Field(
        default=None,
        description="bearer token a Prometheus scrape of the API's /metrics sends (32+ "
        "characters); required in production; without it only a loopback client may scrape",
    )
    metrics_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="how long one read of the case file's counts serves /metrics scrapes",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="address the worker's Temporal SDK metrics listen on (no authentication: "
        "keep it on loopback or a private network)",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="port of the worker's Temporal SDK metrics (Prometheus text at /metrics); "
        "off when unset, since several workers on one host would share a fixed port",
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("temporal_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port with a port from 1 to 65535")
        return value

    @field_validator("ack_key", "audit_key", "decision_key")
    @classmethod
    def _ack_key_of_32_bytes(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Only the decision key may list several (rotation: the first signs, all verify).
        keys = value.split(",") if value and info.field_name == "decision_key" else [value]
        for each in keys:
            if each is None:
                continue
            try:
                key = base64.b64decode(each.strip(), validate=True)
            except ValueError:
                raise ValueError("must be base64 (of at least 32 random bytes)") from None
            if len(key) < 32:
                raise ValueError("must be at least 32 bytes (base64 of os.urandom(32))")
        return value

    @field_validator("webhook_secret", "twilio_auth_token")
    @classmethod
    def _no_placeholder_secret(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set a real secret")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _bearer_token(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 32 or not value.isprintable() or " " in value):
            raise ValueError("must be 32 or more visible characters without spaces")
        return value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            if not self.encryption_keys:
                raise ValueError(
                    f"{ENV_PREFIX}ENCRYPTION_KEYS is required in production "
                    f"({ENV_PREFIX}ENVIRONMENT=production)"
                )
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError(f"{ENV_PREFIX}DATABASE_URL must be PostgreSQL in production")
            if (urlsplit(self.database_url).password or "").lower() in _PLACEHOLDERS:
                raise ValueError(f"{ENV_PREFIX}DATABASE_URL has a placeholder password")
            if not self.audit_key:
                raise ValueError(f"{ENV_PREFIX}AUDIT_KEY is required in production")
            if not self.decision_key:
                raise ValueError(f"{ENV_PREFIX}DECISION_KEY is required in production")
            if not self.ack_key:
                raise ValueError(f"{ENV_PREFIX}ACK_KEY is required in production")
            if not self.metrics_token:
                raise ValueError(f"{ENV_PREFIX}METRICS_TOKEN is required in production")
            if not self.public_url.lower().startswith("https://"):
                raise ValueError(f"{ENV_PREFIX}PUBLIC_URL must be https in production")
            # Whoever reaches Temporal without a client certificate could read or drive it.
            if self.temporal_tls_cert is None or self.temporal_tls_key is None:
                raise ValueError(
                    f"{ENV_PREFIX}TEMPORAL_TLS_CERT and {ENV_PREFIX}TEMPORAL_TLS_KEY are "
                    "required in production (mutual TLS to Temporal)"
                )
        return self

    @model_validator(mode="after")
    def _temporal_tls_whole(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                f"{ENV_PREFIX}TEMPORAL_TLS_CERT and {ENV_PREFIX}TEMPORAL_TLS_KEY go together"
            )
        return self

    @field_validator("temporal_ui_url")
    @classmethod
    def _web_origin(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def temporal_ui_origin(self) -> str:
        """The Temporal Web UI's origin, as a browser sends it in `Origin`."""
        if self.temporal_ui_url is None:
            return f"http://127.0.0.1:{self.temporal_ui_port}"
        parts = urlsplit(self.temporal_ui_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'crisisdesk.db').resolve()}"


class SettingsError(SystemExit):
    """Start-up refused: a setting is wrong. The message names the variable."""


def describe_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        lines.append(f"{name}: {item['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    """Read the environment, or stop with a message naming each bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
