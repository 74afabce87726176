"""``mlctl server`` and ``mlctl db``: the commands that load the server and its store."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from controlplane.config import ENV_PREFIX, Settings
from controlplane.store.durability import CHOICES as DURABILITY_CHOICES


def _error(args: argparse.Namespace, text: str, exit_code: int, code: str) -> int:
    """Prints ``error: text`` (or, with ``-o json``, a JSON error object, ``code`` a status
    code name) to stderr and returns ``exit_code``."""
    from controlplane.cli.output import print_failure

    print_failure(getattr(args, "output", "text") == "json", code, text, code_in_text=False)
    return exit_code


def setting(flag: str | None, name: str, default: str | None = None) -> str | None:
    """The flag when given, else ``$CONTROLPLANE_<name>`` when set, else the default."""
    if flag is not None:
        return flag
    return os.environ.get(ENV_PREFIX + name) or default


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _seconds(flag: float | None, name: str, default: float) -> float:
    """A number of seconds from its flag, else ``$CONTROLPLANE_<name>``, else the default."""
    value = setting(None if flag is None else str(flag), name, str(default))
    try:
        return float(value or default)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name} must be a number, not {value!r}") from None


def server_settings(args: argparse.Namespace) -> Settings:
    defaults = Settings()
    return Settings(
        listen=setting(args.listen, "LISTEN", defaults.listen) or defaults.listen,
        data_dir=_path(setting(args.data_dir, "DATA_DIR")),
        database_url=setting(args.database_url, "DATABASE_URL", "") or "",
        tls_cert=_path(setting(args.tls_cert, "TLS_CERT")),
        tls_key=_path(setting(args.tls_key, "TLS_KEY")),
        tls_client_ca=_path(setting(args.tls_client_ca, "TLS_CLIENT_CA")),
        log_format=setting(args.log_format, "LOG_FORMAT", defaults.log_format)
        or defaults.log_format,
        log_level=(
            setting(args.log_level, "LOG_LEVEL", defaults.log_level) or defaults.log_level
        ).upper(),
        telemetry=setting(args.telemetry, "TELEMETRY", defaults.telemetry) or defaults.telemetry,
        grace_seconds=_seconds(args.grace_seconds, "GRACE_SECONDS", defaults.grace_seconds),
        artifact_store=setting(args.artifact_store, "ARTIFACT_STORE", defaults.artifact_store)
        or defaults.artifact_store,
        artifact_root=setting(args.artifact_root, "ARTIFACT_ROOT", "") or "",
        event_loop=setting(args.event_loop, "EVENT_LOOP", defaults.event_loop)
        or defaults.event_loop,
        watch_poll_seconds=_seconds(
            args.watch_poll_seconds, "WATCH_POLL_SECONDS", defaults.watch_poll_seconds
        ),
        watch_max_seconds=_seconds(
            args.watch_max_seconds, "WATCH_MAX_SECONDS", defaults.watch_max_seconds
        ),
        durability=setting(args.durability, "DURABILITY", defaults.durability)
        or defaults.durability,
    )


def _check(settings: Settings) -> None:
    if settings.log_format not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {settings.log_format!r}")
    if not isinstance(logging.getLevelName(settings.log_level), int):
        raise ValueError(f"unknown log level {settings.log_level!r}")
    if settings.telemetry not in ("none", "console"):
        raise ValueError(f"telemetry must be none or console, not {settings.telemetry!r}")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if settings.tls_client_ca and not settings.tls_cert:
        raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
    if settings.grace_seconds < 0:
        raise ValueError("--grace-seconds must not be negative")
    if not settings.watch_poll_seconds > 0:
        raise ValueError("--watch-poll-seconds must be positive")
    if not settings.watch_max_seconds > 0:
        raise ValueError("--watch-max-seconds must be positive")
    if settings.durability not in DURABILITY_CHOICES:
        raise ValueError(
            f"--durability must be one of {', '.join(DURABILITY_CHOICES)}, "
            f"not {settings.durability!r}"
        )


def server(args: argparse.Namespace) -> int:
    try:
        settings = server_settings(args)
        _check(settings)
    except ValueError as error:
        return _error(args, str(error), 2, "INVALID_ARGUMENT")

    from controlplane.server import allocator, logs, telemetry
    from controlplane.server.event_loop import loop_factory

    try:
        new_loop = loop_factory(settings.event_loop)
    except ValueError as error:
        return _error(args, str(error), 2, "INVALID_ARGUMENT")
    allocator.tune()
    logs.configure(settings.log_format, settings.log_level)
    telemetry.configure(settings.telemetry)

    from controlplane.server.app import serve
    from controlplane.store.migrate import SchemaError

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(serve(settings))
    except SchemaError as error:
        return _error(args, str(error), 2, "FAILED_PRECONDITION")
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 130
    except (OSError, RuntimeError, ValueError) as error:
        logging.getLogger("controlplane.server").debug("start failed", exc_info=True)
        return _error(args, str(error) or type(error).__name__, 1, "UNAVAILABLE")
    return 0


# -- db -------------------------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    """--database-url, else the embedded database of --data-dir, else $CONTROLPLANE_DATABASE_URL,
    else the embedded database of $CONTROLPLANE_DATA_DIR or the default data directory."""
    if args.database_url:
        return str(args.database_url)
    if args.data_dir:
        return Settings(data_dir=Path(args.data_dir).expanduser()).resolved_database_url()
    return Settings(
        database_url=os.environ.get(ENV_PREFIX + "DATABASE_URL", "")
    ).resolved_database_url()


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    from controlplane.store.db import normalize_url

    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


async def _upgrade(url: str) -> tuple[str | None, bool]:
    from controlplane.store import migrate
    from controlplane.store.db import Database

    db = Database(url)
    try:
        await migrate.upgrade(db)
        return await migrate.current_revision(db)
    finally:
        await db.dispose()


async def _current(url: str) -> tuple[str | None, bool]:
    from controlplane.store import migrate
    from controlplane.store.db import Database

    db = Database(url)
    try:
        return await migrate.current_revision(db)
    finally:
        await db.dispose()


def _db_errors() -> tuple[type[BaseException], ...]:
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, CommandError, OSError)


def _print(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    if getattr(args, "output", "text") == "json":
        import json

        print(json.dumps(document, indent=2))
    else:
        print(text)


def db_upgrade(args: argparse.Namespace) -> int:
    from controlplane.store import migrate

    url = database_url(args)
    sqlite = _sqlite_path(url)
    try:
        if sqlite is not None:
            sqlite.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        revision, _ = asyncio.run(_upgrade(url))
    except _db_errors() as error:
        return _error(args, f"cannot upgrade {redact(url)}: {error}", 1, "UNAVAILABLE")
    head = migrate.head_revision()
    _print(
        args,
        {"database": redact(url), "current": revision, "head": head},
        f"{redact(url)} is at revision {revision} (head)",
    )
    return 0 if revision == head else 1


def db_current(args: argparse.Namespace) -> int:
    from controlplane.store import migrate

    url = database_url(args)
    sqlite = _sqlite_path(url)
    head = migrate.head_revision()
    revision: str | None = None
    if sqlite is None or sqlite.exists():
        try:
            revision, _ = asyncio.run(_current(url))
        except _db_errors() as error:
            return _error(args, f"cannot read {redact(url)}: {error}", 1, "UNAVAILABLE")
    if revision is None:
        status = "no schema; run `mlctl db upgrade`"
    elif revision == head:
        status = "up to date"
    else:
        status = "behind head (or newer than this package); see `mlctl db upgrade`"
    _print(
        args,
        {"database": redact(url), "current": revision, "head": head, "upToDate": revision == head},
        f"database: {redact(url)}\ncurrent: {revision or '(none)'}\nhead: {head}\nstatus: {status}",
    )
    return 0
