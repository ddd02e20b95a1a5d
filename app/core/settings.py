"""Every setting, read once from the environment (prefix FX_) and validated before anything starts.

The settings of each source (`FX_SOURCE_<NAME>_URL`, `_INTERVAL`, `_MAX_GAP`, and `_HISTORY_URL` for a source
with a history page) are not written out here: they are generated from the catalog the source registry passes
in (app.sources.registry), so adding a source touches its module and the registry, and nothing else. This
module imports nothing else of the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import Field, FilePath, SecretStr, ValidationError, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CodeList = Annotated[list[str], NoDecode]


@dataclass(frozen=True, slots=True)
class SourceDefaults:
    """What a source declares about its own settings."""

    name: str
    url: str  # a `{date:FORMAT}` placeholder is the day asked for; empty for declared data, which fetches nothing
    interval: int  # seconds between polls
    history_url: str | None = None  # a page of history, for `fx-ticker backfill` ({start:FORMAT}, {end:FORMAT})

    @property
    def fetches(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the settings are checked against: the currencies served by default and which codes exist, and the
    sources in the default order of preference."""

    currencies: tuple[str, ...]
    sources: tuple[SourceDefaults, ...]
    is_currency: Callable[[str], bool]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(source.name for source in self.sources)


def _split(value: object) -> object:
    """`KZT, uzs` -> ["KZT", "UZS"]; comma-separated is friendlier in an env file than JSON."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsError(Exception):
    """A setting is invalid; the message names it by its environment variable."""


class Settings(BaseSettings):
    """The service's settings; `settings_class` adds those of every source in a catalog (`source_<name>_url`,
    `source_<name>_interval`, `source_<name>_max_gap`, `source_<name>_history_url`)."""

    model_config = SettingsConfigDict(env_prefix="FX_", env_file=".env", extra="ignore")
    catalog: ClassVar[Catalog] = Catalog((), (), lambda code: False)

    database_url: str = "sqlite:///./var/fx-ticker.db"
    # The catalog's default currencies and every known source, in the catalog's order (filled in by _defaults).
    currencies: CodeList = Field(default_factory=list)
    sources: CodeList = Field(default_factory=list)
    role: Literal["all", "api", "poller"] = "all"

    # Sources in order of preference for "the best quote" of a currency: only the sources that quote a
    # currency compete for it, so the banks (one currency each) come first, then the peg, then the rest.
    source_priority: CodeList = Field(default_factory=list)

    # The plan this deployment holds with ExchangeRate-API (source `erapi`). Its open access terms (`open`, no key)
    # allow caching but forbid redistributing its rates or using them in a service that offers programmatic access
    # to exchange rates, so on `open` erapi is a cross-check only: polled, stored, compared (spread and jump flags,
    # /sources), never served. `licensed`: the operator holds a plan or agreement whose terms allow serving its rates
    # to this service's clients; erapi is then served like any other source.
    erapi_plan: Literal["open", "licensed"] = "open"

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
    # How long a poll may wait on the database in all (the poller lock, the store, the source's state) before it
    # is recorded as an error. A frozen database never answers, and a poll that waited on it unseen would hide the
    # stall: it would end `ok` much later, its skipped runs the only trace. Unset, each source's is computed
    # (poll_deadline_for).
    poll_deadline: float | None = Field(None, ge=1, le=3600)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # `fx-ticker serve` speaks HTTPS itself when both are set (PEM files); usually a reverse proxy does that instead.
    tls_certfile: FilePath | None = None
    tls_keyfile: FilePath | None = None
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
    # Browser origins allowed to GET (and HEAD) the API (CORS), e.g. https://dash.example.com; `*` (the default)
    # allows any, as a public read API should: no credentials are ever allowed, and never on /admin. Empty: none.
    cors_origins: CodeList = Field(default_factory=lambda: ["*"])
    # `fx-ticker serve` answers /metrics on this port of its own (every worker), bound to metrics_host, and not on
    # the public port; 0 answers /metrics on the public port instead, as before.
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data.setdefault("currencies", list(cls.catalog.currencies))
            data.setdefault("sources", list(cls.catalog.names))
            data.setdefault("source_priority", list(cls.catalog.names))
        return data

    @field_validator("currencies", "sources", "source_priority", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("currencies")
    @classmethod
    def _known_currencies(cls, value: list[str]) -> list[str]:
        codes = [code.upper() for code in value]
        unknown = [code for code in codes if not cls.catalog.is_currency(code) or code == "USD"]
        if unknown:
            raise ValueError(
                f"unknown currency {', '.join(unknown)}: give ISO 4217 codes other than USD (every rate is "
                f"against USD), such as {', '.join(cls.catalog.currencies)}"
            )
        if not codes:
            raise ValueError("at least one currency is needed")
        return list(dict.fromkeys(codes))

    @field_validator("sources", "source_priority")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        names = [name.lower() for name in value]
        known = cls.catalog.names
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown source {', '.join(unknown)}; known: {', '.join(known)}")
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
        # A token read from a secret file ends with a newline that nobody types: it is not part of the token.
        token = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(token) if token else None

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
    def _tls_pair(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("FX_TLS_CERTFILE and FX_TLS_KEYFILE go together: set both, or neither")
        return self

    @model_validator(mode="after")
    def _per_source(self) -> Settings:
        for source in self.catalog.sources:
            name = source.name
            prefix = f"FX_SOURCE_{name.upper()}"
            if self.source_max_gap(name) < self.source_interval(name):
                raise ValueError(
                    f"{prefix}_MAX_GAP must be at least {prefix}_INTERVAL, or every poll would open a new span"
                )
            url = self.source_url(name)
            if not source.fetches:
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

    def source_history_url(self, name: str) -> str | None:
        url: str | None = getattr(self, f"source_{name}_history_url", None)
        return url

    def source_max_gap(self, name: str) -> int:
        gap: int | None = getattr(self, f"source_{name}_max_gap")
        return gap if gap is not None else 3 * self.source_interval(name)

    def poll_deadline_for(self, name: str) -> float:
        """FX_POLL_DEADLINE, or three times FX_DB_TIMEOUT (a poll makes a few round trips and one write
        transaction, where a request makes one read), no longer than the source's interval (so a stalled poll is
        recorded before its next run is due), but never less than FX_DB_TIMEOUT (what one request gets)."""
        if self.poll_deadline is not None:
            return self.poll_deadline
        return max(self.db_timeout, min(3 * self.db_timeout, float(self.source_interval(name))))


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


@lru_cache(maxsize=4)
def settings_class(catalog: Catalog) -> type[Settings]:
    """Settings with the settings of every source in `catalog` as fields of their own: each is an environment
    variable (FX_SOURCE_NBK_URL...), typed, checked and documented like the others."""
    fields: dict[str, Any] = {}
    for source in catalog.sources:
        # The URL (a mirror for tests or air-gapped sites keeps any {date:...} placeholder), seconds between
        # polls, and how long after its last observation an unchanged rate still extends its span (longer gaps
        # open a new span, so outages stay visible; unset means three intervals).
        fields[f"source_{source.name}_url"] = (str, source.url)
        fields[f"source_{source.name}_interval"] = (int, Field(source.interval, ge=1))
        fields[f"source_{source.name}_max_gap"] = (int | None, Field(None, ge=1))
        if source.history_url is not None:
            fields[f"source_{source.name}_history_url"] = (str, source.history_url)
    generated = create_model("Settings", __base__=Settings, __module__=__name__, **fields)
    generated.catalog = catalog
    return cast(type[Settings], generated)


def load_settings(catalog: Catalog, **overrides: object) -> Settings:
    """Settings from the environment (and .env), or SettingsError naming each bad variable."""
    try:
        return settings_class(catalog)(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
