"""`fx-ticker`: serve, poll once, ingest a saved page, migrate."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from app.api import metricsport
from app.core.clock import utc, utcnow
from app.core.logs import configure as configure_logging
from app.core.metrics import MULTIPROCESS_ENV
from app.core.settings import Settings, SettingsError
from app.ingest.backfill import Backfill, backfillable
from app.ingest.pipeline import Outcome, process
from app.ingest.poller import Poller, database_trouble, local_day
from app.ingest.schema import migrate
from app.sources.fetch import make_client
from app.sources.registry import SOURCES, load_settings
from app.storage.engine import describe, make_engine, masked, unavailable
from app.storage.lock import poller_lock
from app.storage.migrate import current_revision, head_revision, new_revision

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_DATABASE = 4


def _when(text: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (example: 2026-02-23T10:00:00Z)") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (example: 2026-03-01)") from None


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fx-ticker", description="Central Asian currency rates against USD.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply migrations, then serve the API (and poll, by FX_ROLE)")
    serve.add_argument("--host", default=settings.host, help="address to bind (default: FX_HOST, %(default)s)")
    serve.add_argument("--port", type=int, default=settings.port, help="port (default: FX_PORT, %(default)s)")
    serve.add_argument("--workers", type=int, default=settings.workers, help="uvicorn workers (default: %(default)s)")

    poll = commands.add_parser("poll", help="poll the enabled sources once and exit")
    poll.add_argument("--once", action="store_true", required=True, help="one cycle, then exit (required)")
    poll.add_argument("--source", choices=sorted(SOURCES), help="poll only this source")

    ingest = commands.add_parser("ingest", help="store a saved page or feed body as if it had just been polled")
    ingest.add_argument("path", type=Path, help="file holding the body, e.g. a saved ticker page")
    ingest.add_argument("--source", required=True, choices=sorted(SOURCES), help="which source's format it is")
    ingest.add_argument("--observed-at", type=_when, help="when it was seen (ISO 8601, default: now)")

    backfill = commands.add_parser("backfill", help="load a source's history from its dated feed")
    backfill.add_argument("--source", required=True, choices=backfillable(), help="which source")
    backfill.add_argument("--from", dest="start", required=True, type=_day, help="first day (YYYY-MM-DD)")
    backfill.add_argument("--to", dest="end", type=_day, help="last day (YYYY-MM-DD, default: today)")
    backfill.add_argument(
        "--again",
        action="store_true",
        help="fetch the days fetched before too: loads the past of a currency added to FX_CURRENCIES since",
    )

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the migrations up to the latest")
    db_commands.add_parser("current", help="print the database's schema revision and the code's (exit 1 if behind)")
    revision = db_commands.add_parser("revision", help="write a new, empty migration after the latest, to fill in")
    revision.add_argument("-m", "--message", required=True, help="what the migration changes (names the file)")
    return parser


def _engine(settings: Settings) -> Engine:
    """A command's engine: it gives up connecting after FX_DB_TIMEOUT rather than hang on a frozen server."""
    return make_engine(settings.database_url, connect_timeout=settings.db_timeout)


def _report(outcomes: Sequence[Outcome]) -> int:
    for outcome in outcomes:
        print(outcome.summary())
    return 0 if any(o.ok for o in outcomes) else EXIT_FAILED


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(0)  # asked to stop, and stopped: uvicorn re-raises SIGTERM once its graceful shutdown is done


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    engine = _engine(settings)
    migrate(engine)
    engine.dispose()
    metrics_dir = None
    if args.workers > 1:  # workers are separate processes: /metrics adds up all of them (app.core.metrics)
        metrics_dir = tempfile.mkdtemp(prefix="fx-ticker-metrics-")
        os.environ[MULTIPROCESS_ENV] = metrics_dir
    os.environ[metricsport.SERVED_ENV] = "1"  # each worker opens the metrics port (FX_METRICS_PORT)
    signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            "app.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=settings.log_level,
            access_log=settings.access_log,
            log_config=None,  # app.core.logs formats every line, uvicorn's included (FX_LOG_FORMAT)
            http="app.api.limits:LimitedHttpTools",  # httptools with limits on a request's head
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


async def _poll_once(settings: Settings, names: list[str]) -> int:
    engine = _engine(settings)
    try:
        return await _poll_once_with(engine, settings, names)
    finally:
        engine.dispose()


async def _poll_once_with(engine: Engine, settings: Settings, names: list[str]) -> int:
    lock = poller_lock(engine)
    try:
        migrate(engine)
        leading = lock.acquire()
    except Exception as exc:
        reason = database_trouble(exc)
        if reason is None:
            raise
        where = masked(settings.database_url)
        print(f"error: the database FX_DATABASE_URL={where} is unavailable: {reason}; nothing polled", file=sys.stderr)
        return EXIT_DATABASE
    if not leading:
        print("error: another process is polling this database (it holds the poller lock)", file=sys.stderr)
        return EXIT_LOCKED
    try:
        async with make_client(settings.http_timeout, settings.user_agent) as client:
            poller = Poller(engine, settings, client, lock)
            outcomes = await poller.poll_all(names)
            await poller.write_unrecorded()  # the database may be back for a poll that failed without it
    finally:
        lock.release()
    code = _report([o for o in outcomes if o is not None])
    if poller.unrecorded:
        print(
            f"error: the database is unreachable: {len(poller.unrecorded)} failed poll(s) are not in the poll log",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    return code


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    try:
        body = args.path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read PATH {args.path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(settings)
    migrate(engine)
    observed_at = args.observed_at or utcnow()
    if observed_at > utcnow() + timedelta(minutes=5):
        print(f"error: --observed-at {args.observed_at.isoformat()} is in the future", file=sys.stderr)
        return EXIT_USAGE
    spec = SOURCES[args.source]
    # As if polled then: a rate for a later day than the publisher's today at `observed_at` is only announced.
    not_after = local_day(spec, observed_at)
    outcome = process(engine, settings, spec, body, observed_at=observed_at, started_at=utcnow(), not_after=not_after)
    engine.dispose()
    return _report([outcome])


async def _backfill(settings: Settings, source: str, start: date, end: date, again: bool) -> int:
    from rich.console import Console
    from rich.progress import Progress

    engine = _engine(settings)
    migrate(engine)
    try:
        async with make_client(settings.http_timeout, settings.user_agent) as client:
            with Progress(console=Console(stderr=True)) as bar:
                task = bar.add_task(f"backfill {source}", total=(end - start).days + 1)
                job = Backfill(engine, settings, client, source, lambda n: bar.advance(task, n))
                summary = await job.run(start, end, again)
    finally:
        engine.dispose()
    print(summary.text())
    return EXIT_FAILED if summary.failed else 0


def _check_backfill(args: argparse.Namespace) -> str | None:
    args.end = args.end or utcnow().date()
    if args.start > args.end:
        return f"--from {args.start} is after --to {args.end}"
    if args.end > utcnow().date():
        # A day dated after today would sit ahead of the live series, which ignores anything older.
        return f"--to {args.end} is in the future"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    args = _parser(settings).parse_args(argv)
    try:
        return _run(settings, args)
    except Exception as exc:
        if not unavailable(exc):
            raise
        # The database is away: what the operator needs is which one and why, not a traceback through the pool.
        where = masked(settings.database_url)
        print(f"error: the database FX_DATABASE_URL={where} is unavailable: {describe(exc)}", file=sys.stderr)
        return EXIT_DATABASE


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "poll":
        if args.source and args.source not in settings.sources:
            print(f"error: --source {args.source} is not enabled in FX_SOURCES", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_poll_once(settings, [args.source] if args.source else list(settings.sources)))
    if args.command == "ingest":
        return _ingest(settings, args)
    if args.command == "backfill":
        problem = _check_backfill(args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_backfill(settings, args.source, args.start, args.end, args.again))
    return _db(settings, args)


def _db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "revision":
        if not args.message.strip():
            print("error: -m/--message is empty: say what the migration changes", file=sys.stderr)
            return EXIT_USAGE
        path = new_revision(args.message)
        print(f"wrote {path}: fill in upgrade() and downgrade(), then run `fx-ticker db upgrade`")
        return 0
    engine = _engine(settings)
    try:
        if args.db_command == "current":
            current, head = current_revision(engine), head_revision()
            print(f"database: {current or 'empty'}; code: {head}")
            return 0 if current == head else EXIT_FAILED
        migrate(engine)
    finally:
        engine.dispose()
    print("database is at the latest schema revision")
    return 0


if __name__ == "__main__":
    sys.exit(main())
