"""Every setting, read once from the environment (prefix FX_) and validated before anything starts."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.domain import SUPPORTED_CURRENCIES

KNOWN_SOURCES: tuple[str, ...] = ("ticker",)

CodeList = Annotated[list[str], NoDecode]


def _split(value: object) -> object:
    """`KZT, uzs` -> ["KZT", "UZS"]; comma-separated is friendlier in an env file than JSON."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsError(Exception):
    """A setting is invalid; the message names it by its environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FX_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/fx-ticker.db"
    currencies: CodeList = Field(default_factory=lambda: list(SUPPORTED_CURRENCIES))
    sources: CodeList = Field(default_factory=lambda: list(KNOWN_SOURCES))
    role: Literal["all", "api", "poller"] = "all"

    source_ticker_url: str = "https://timesca.com/"
    source_ticker_interval: int = Field(300, ge=1)
    # A span is extended only while observations keep coming: a quote seen more than this long after the
    # open span's last observation (missed polls, an outage) opens a new span, so gaps stay visible.
    source_ticker_max_gap: int = Field(900, ge=1)

    poll_jitter: int = Field(15, ge=0)
    http_timeout: float = Field(20.0, gt=0)
    max_body_bytes: int = Field(5_000_000, ge=1024)
    user_agent: str = "fx-ticker/0.1 (+https://github.com/fx-ticker/fx-ticker; rates monitor)"
    refresh_seconds: float = Field(2.0, gt=0, le=60)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("currencies", "sources", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("currencies")
    @classmethod
    def _known_currencies(cls, value: list[str]) -> list[str]:
        codes = [code.upper() for code in value]
        unknown = [code for code in codes if code not in SUPPORTED_CURRENCIES]
        if unknown:
            raise ValueError(f"unknown currency {', '.join(unknown)}; supported: {', '.join(SUPPORTED_CURRENCIES)}")
        if not codes:
            raise ValueError("at least one currency is needed")
        return list(dict.fromkeys(codes))

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        names = [name.lower() for name in value]
        unknown = [name for name in names if name not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {', '.join(unknown)}; known: {', '.join(KNOWN_SOURCES)}")
        return list(dict.fromkeys(names))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        if url.drivername in ("postgresql", "postgres"):
            # psycopg 3 is the driver we ship; a plain postgresql:// URL (as compose files write it) means it.
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @model_validator(mode="after")
    def _gap_covers_interval(self) -> Settings:
        if self.source_ticker_max_gap < self.source_ticker_interval:
            raise ValueError(
                "FX_SOURCE_TICKER_MAX_GAP must be at least FX_SOURCE_TICKER_INTERVAL, "
                "or every poll would open a new span"
            )
        return self

    def source_url(self, name: str) -> str:
        return str(getattr(self, f"source_{name}_url"))

    def source_interval(self, name: str) -> int:
        return int(getattr(self, f"source_{name}_interval"))

    def source_max_gap(self, name: str) -> int:
        return int(getattr(self, f"source_{name}_max_gap"))


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        name = f"FX_{field.upper()}" if field else "settings"
        message = item["msg"].removeprefix("Value error, ")
        if field and isinstance(item.get("input"), str | int | float):
            message += f" (got {item['input']!r})"
        lines.append(f"{name}: {message}" if field else message)
    return "invalid setting: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and .env), or SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
