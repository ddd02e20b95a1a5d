"""Every setting, read once from the environment (prefix FX_) and validated before anything starts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.domain.quotes import SUPPORTED_CURRENCIES
from app.sources import cbt, cbu, erapi, nbk, nbkr, nbt, peg, ticker
from app.sources.registry import SOURCES

KNOWN_SOURCES: tuple[str, ...] = tuple(SOURCES)

CodeList = Annotated[list[str], NoDecode]
DAILY_CARRY_SECONDS = 8 * 86400  # a week without publication (the longest holidays), plus the last day itself


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

    # Sources in order of preference for "the best quote" of a currency: only the sources that quote a
    # currency compete for it, so the banks (one currency each) come first, then the peg, then the rest.
    source_priority: CodeList = Field(default_factory=lambda: list(KNOWN_SOURCES))

    # Per source: the URL (a `{date:...}` placeholder is filled with the day asked for; point it at a
    # mirror for tests or air-gapped sites), seconds between polls, and how long after its last observation
    # an unchanged rate still extends its span (longer gaps open a new span, so outages stay visible;
    # an intraday source not seen for that long is also reported stale; unset means 3 intervals).
    source_nbk_url: str = nbk.SPEC.default_url
    source_nbk_interval: int = Field(nbk.SPEC.default_interval_seconds, ge=1)
    source_nbk_max_gap: int | None = Field(None, ge=1)
    source_nbkr_url: str = nbkr.SPEC.default_url
    # The bank's history page of one currency (valuta_id 15 = USD), for `fx-ticker backfill --source nbkr`.
    source_nbkr_history_url: str = nbkr.HISTORY_URL
    source_nbkr_interval: int = Field(nbkr.SPEC.default_interval_seconds, ge=1)
    source_nbkr_max_gap: int | None = Field(None, ge=1)
    source_nbt_url: str = nbt.SPEC.default_url
    source_nbt_interval: int = Field(nbt.SPEC.default_interval_seconds, ge=1)
    source_nbt_max_gap: int | None = Field(None, ge=1)
    source_cbu_url: str = cbu.SPEC.default_url
    source_cbu_interval: int = Field(cbu.SPEC.default_interval_seconds, ge=1)
    source_cbu_max_gap: int | None = Field(None, ge=1)
    source_cbt_url: str = cbt.SPEC.default_url
    source_cbt_interval: int = Field(cbt.SPEC.default_interval_seconds, ge=1)
    source_cbt_max_gap: int | None = Field(None, ge=1)
    source_peg_url: str = peg.SPEC.default_url
    source_peg_interval: int = Field(peg.SPEC.default_interval_seconds, ge=1)
    source_peg_max_gap: int | None = Field(None, ge=1)
    source_erapi_url: str = erapi.SPEC.default_url
    source_erapi_interval: int = Field(erapi.SPEC.default_interval_seconds, ge=1)
    source_erapi_max_gap: int | None = Field(None, ge=1)
    source_ticker_url: str = ticker.SPEC.default_url
    source_ticker_interval: int = Field(ticker.SPEC.default_interval_seconds, ge=1)
    source_ticker_max_gap: int | None = Field(None, ge=1)

    # A bank's quote is stale (and the next source is preferred) once its effective date is this many days
    # old: banks publish on working days only, so a long weekend must not count.
    bank_stale_days: int = Field(4, ge=1)
    # Flags (the quote is stored, and the flag shown in /sources): a move larger than this from the same
    # source's previous value, or a disagreement with another fresh source beyond this plus the rounding of
    # the less precise of the two (the ticker prints five decimals).
    flag_jump_pct: Decimal = Field(Decimal(5), gt=0)
    flag_spread_pct: Decimal = Field(Decimal(3), gt=0)
    # A failing source waits interval * (2^(failures-1) - 1) extra before its next try, at most this many seconds
    # (or as long as a 429/503 Retry-After asks, if longer).
    max_backoff: int = Field(6 * 3600, ge=1)
    # `fx-ticker backfill`: seconds each of its (at most two) concurrent requests waits before the next.
    backfill_delay: float = Field(1.0, ge=0)

    poll_jitter: int = Field(15, ge=0)
    http_timeout: float = Field(20.0, gt=0)
    max_body_bytes: int = Field(5_000_000, ge=1024)
    user_agent: str = "fx-ticker/0.1 (+https://github.com/fx-ticker/fx-ticker; rates monitor)"
    refresh_seconds: float = Field(2.0, gt=0, le=60)
    # /rates/stream sends a comment at least this often, so that proxies keep an idle stream open.
    stream_heartbeat: float = Field(15.0, gt=0, le=60)
    # The database in trouble (frozen, refused, overloaded) must cost a client seconds, not minutes: a request's
    # database work (connecting included) is given up after db_timeout seconds and answered 503. At most
    # db_concurrency requests per process use the database at once; one that waits longer than db_queue_timeout
    # for its turn is answered 503 at once rather than queue without bound. Also every command's connect timeout.
    db_timeout: float = Field(5.0, ge=1, le=300)
    db_concurrency: int = Field(8, ge=1, le=100)
    db_queue_timeout: float = Field(1.0, ge=0, le=60)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # One log line per HTTP request costs more than answering /rates/latest; /metrics counts requests anyway.
    access_log: bool = False
    # `json`: one JSON object per line (for a log shipper); `text`: human-readable `key=value` lines.
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM, how long a poll in flight may take to finish before it is cancelled (a fetch is abandoned; a
    # database write already under way is one transaction and commits whole or not at all).
    shutdown_timeout: float = Field(25.0, ge=0)
    # POST /admin/poll exists only when this is set, and wants it as a bearer token. Never logged.
    admin_token: SecretStr | None = None
    # Browser origins allowed to GET the API (CORS), e.g. https://dash.example.com; none by default.
    cors_origins: CodeList = Field(default_factory=list)

    @field_validator("currencies", "sources", "source_priority", "cors_origins", mode="before")
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

    @field_validator("sources", "source_priority")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        names = [name.lower() for name in value]
        unknown = [name for name in names if name not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {', '.join(unknown)}; known: {', '.join(KNOWN_SOURCES)}")
        return list(dict.fromkeys(names))

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if o != "*" and not re.fullmatch(r"https?://[^/\s]+", o)]
        if bad:
            raise ValueError(f"not an origin: {', '.join(bad)} (an origin is scheme://host[:port], no path)")
        return value

    @field_validator("admin_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

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
    def _per_source(self) -> Settings:
        for name in KNOWN_SOURCES:
            prefix = f"FX_SOURCE_{name.upper()}"
            if self.source_max_gap(name) < self.source_interval(name):
                raise ValueError(
                    f"{prefix}_MAX_GAP must be at least {prefix}_INTERVAL, or every poll would open a new span"
                )
            url = self.source_url(name)
            if name == "peg":
                continue  # declared data: nothing is fetched
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{prefix}_URL must be an http:// or https:// URL (got {url!r})")
            try:
                url.format(date=date(2026, 1, 31))
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"{prefix}_URL has a bad placeholder ({exc}); only {{date:FORMAT}} is allowed"
                ) from None
        missing = [name for name in self.sources if name not in self.source_priority]
        self.source_priority = [*self.source_priority, *missing]
        return self

    def source_url(self, name: str) -> str:
        return str(getattr(self, f"source_{name}_url"))

    def source_interval(self, name: str) -> int:
        return int(getattr(self, f"source_{name}_interval"))

    def carry_seconds(self, name: str) -> int:
        """How long after its last sighting a value still counts as in force in history and exports.

        An official daily rate (a bank, the peg) holds until the next publication: across a weekend or a
        holiday week, and through the whole of the last day it was stated for (backfilled days are seen at
        00:00). Anything else holds for its allowed gap, after which history shows nothing in force.
        """
        if SOURCES[name].authoritative_for:
            return max(self.source_max_gap(name), DAILY_CARRY_SECONDS)
        return self.source_max_gap(name)

    def source_max_gap(self, name: str) -> int:
        gap: int | None = getattr(self, f"source_{name}_max_gap")
        return gap if gap is not None else 3 * self.source_interval(name)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        name = f"FX_{field.upper()}" if field else "settings"
        message = item["msg"].removeprefix("Value error, ")
        # The database URL may carry a password: never echo it.
        if field and field != "database_url" and isinstance(item.get("input"), str | int | float):
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
