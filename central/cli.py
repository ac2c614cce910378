"""``bitagora central``: serve central, make an enrollment code, or import and export a
merchant's catalog.

    bitagora central [--data-dir DIR] [--host 127.0.0.1] [--port 8600] [--workers N]
    bitagora central enroll-code --merchant NAME [--data-dir DIR] [--ttl-hours 24]
    bitagora central merchant add … | user add|list|deactivate|reset-password …  (tenants_cli.py)
    bitagora central catalog import --merchant NAME FILE.csv
    bitagora central catalog export --merchant NAME --out FILE.csv
    bitagora central config export --merchant NAME --out FILE.json   (for a USB stick)
    bitagora central migrate status|up|down [--to N]                 (migrate_cli.py)
    bitagora central backup … | restore FILE --identity KEYFILE      (backup_cli.py)
    bitagora central device move DEVICE_ID --merchant NAME   (recorded in device_moves)

Settings are checked before anything starts (central/settings.py). ``DATABASE_URL`` selects the
database; without it central runs an embedded PostgreSQL with its
data in ``<data-dir>/central/pgdata``. The session secret lives in
``<data-dir>/central/session_secret`` (0600); a random first ops password, if central made one, in
``<data-dir>/central/ops_password`` (0600). The key that signs configuration documents is
``<data-dir>/central/signing_key`` (0600, made at the first start) unless
``$BITAGORA_CENTRAL_SIGNING_KEY_FILE`` names another file (central/signing_key.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import asyncpg

if TYPE_CHECKING:
    from central.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("/var/lib/bitagora")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600
OPS_PASSWORD_FILE = "ops_password"  # the first ops user's random password, if one was made


def central_dir(data_dir: Path | None) -> Path:
    base = data_dir or Path(os.environ.get("BITAGORA_DATA_DIR", DEFAULT_DATA_DIR))
    return base.expanduser().resolve() / "central"


def load_session_secret(directory: Path) -> str:
    """The dashboard's cookie-signing secret, made once and kept so sessions survive restarts."""
    path = directory / "session_secret"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
    return secret


@contextmanager
def database(directory: Path) -> Iterator[str]:
    """``DATABASE_URL`` if set, else the embedded server on ``directory/pgdata``."""
    from central.settings import database_url_problem, refuse

    url = os.environ.get("DATABASE_URL")
    if url is not None:
        if problem := database_url_problem(url):
            refuse([problem])
        yield url
        return
    from central.db import EmbeddedPostgres

    server = EmbeddedPostgres(directory / "pgdata")
    try:
        yield server.url()
    finally:
        server.close()


async def _prepare(database_url: str, settings: Settings) -> None:
    """Bring the schema up to date, or refuse to start (an edited migration, say); in
    production, refuse to make a random first ops password."""
    from central.schema import MigrationError, apply_migrations
    from central.settings import refuse
    from central.users import PASSWORD_ENV as OPS_PASSWORD_ENV

    conn = await asyncpg.connect(database_url)
    try:
        try:
            await apply_migrations(conn)
        except MigrationError as err:
            print(f"bitagora central: cannot start: {err}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        if settings.production and not os.environ.get(OPS_PASSWORD_ENV):
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM web_users WHERE role = 'ops')"
            ):
                refuse(
                    [f"{OPS_PASSWORD_ENV}: production makes no random first ops password; set it"]
                )
    finally:
        await conn.close()


async def _serve(
    database_url: str,
    session_secret: str,
    host: str,
    port: int,
    settings: Settings,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; on ``sock`` when a worker of ``--workers`` (which has
    announced the address already)."""
    from central.app import create_app
    from central.serve import start_server
    from central.signing_key import load_signing_key
    from central.tokens import JWKS_URL_ENV, SECRET_ENV

    directory = settings.directory
    app = create_app(
        database_url,
        session_secret,
        web=settings.web,
        notify=settings.notify,
        ops_password_file=directory / OPS_PASSWORD_FILE,
        signing_key=load_signing_key(directory),
        supabase_jwt_secret=os.environ.get(SECRET_ENV) or None,
        supabase_jwks_url=os.environ.get(JWKS_URL_ENV) or None,
        health=settings.health,
        stripe_webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        update_key=settings.update_key,
    )
    try:
        running = await start_server(app, host, port, log_level="info", sock=sock)
    except RuntimeError as err:  # uvicorn has logged why (a --port in use, say)
        print(
            f"bitagora central: {err}: see the error above (--host {host} --port {port})",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None
    if sock is None:
        print(f"central listening on {running.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running.task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await running.stop()
    log.info("central stopped")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def cmd_serve(args: argparse.Namespace) -> int:
    # Until the event loop takes over SIGTERM, turn it into an exception so that the embedded
    # server started below is still stopped on the way out.
    from central.settings import SettingsError, check, refuse

    try:  # before anything else: a bad setting must not leave a database started or migrated
        settings = check(central_dir(args.data_dir), args.port)
    except SettingsError as err:
        refuse(err.problems)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from central.error_reporting import DSN_ENV, report_errors

    if os.environ.get(DSN_ENV):
        try:
            report_errors(os.environ[DSN_ENV])
        except ValueError as err:  # sentry-sdk's BadDsn
            refuse([f"{DSN_ENV}: {err}"])
    secret = load_session_secret(settings.directory)
    with database(settings.directory) as url:
        asyncio.run(_prepare(url, settings))  # once, before any worker starts
        if args.workers == 1:
            asyncio.run(_serve(url, secret, args.host, args.port, settings))
            return 0
        from central.workers import bind, run_workers

        try:
            sock = bind(args.host, args.port)
        except OSError as err:
            print(
                f"bitagora central: cannot listen on {args.host}:{args.port}: {err}",
                file=sys.stderr,
                flush=True,
            )
            return 1
        port = sock.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        return run_workers(
            args.workers,
            lambda: asyncio.run(_serve(url, secret, args.host, port, settings, sock)),
            f"http://{host}:{port}",
        )


async def make_enrollment_code(database_url: str, merchant: str, ttl: timedelta) -> str:
    from central.enroll import create_code
    from central.schema import apply_migrations

    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)  # the code may be made before central's first start
        return await create_code(conn, merchant, ttl=ttl)
    finally:
        await conn.close()


def cmd_enroll_code(args: argparse.Namespace) -> int:
    if not args.merchant.strip():
        print("error: --merchant must not be empty", file=sys.stderr)
        return 2
    if args.ttl_hours <= 0:
        print("error: --ttl-hours must be positive", file=sys.stderr)
        return 2
    with database(central_dir(args.data_dir)) as url:
        code = asyncio.run(
            make_enrollment_code(url, args.merchant, timedelta(hours=args.ttl_hours))
        )
    print(code, flush=True)
    return 0


async def _with_database(
    database_url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    from central.schema import apply_migrations

    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)
        return await work(conn)
    finally:
        await conn.close()


def cmd_catalog_import(args: argparse.Namespace) -> int:
    from bitagora_protocol.catalog_csv import CatalogFileError
    from central.merchant_catalog import UnknownMerchant, import_csv

    try:
        data = args.file.read_bytes()
    except OSError as err:
        print(f"error: cannot read {args.file}: {err}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        with database(central_dir(args.data_dir)) as url:
            done = asyncio.run(
                _with_database(url, lambda conn: import_csv(conn, args.merchant, data))
            )
    except (CatalogFileError, UnknownMerchant) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    ignored = (
        f"; columns not used: {', '.join(done.ignored_columns)}" if done.ignored_columns else ""
    )
    print(
        f"{args.file.name}: {done.products} products for {args.merchant!r}, configuration "
        f"version {done.version} ({time.monotonic() - started:.2f} s){ignored}",
        flush=True,
    )
    return 0


def cmd_catalog_export(args: argparse.Namespace) -> int:
    from central.merchant_catalog import UnknownMerchant, export_csv

    try:
        with database(central_dir(args.data_dir)) as url:
            text, count = asyncio.run(
                _with_database(url, lambda conn: export_csv(conn, args.merchant))
            )
    except UnknownMerchant as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    args.out.write_text(text, encoding="utf-8", newline="")
    print(f"{args.out}: {count} products of {args.merchant!r}", flush=True)
    return 0


def cmd_config_export(args: argparse.Namespace) -> int:
    from central.config_documents import build
    from central.merchant_catalog import UnknownMerchant, merchant_id
    from central.signing_key import load_signing_key

    directory = central_dir(args.data_dir)
    key = load_signing_key(directory)

    async def export(conn: asyncpg.Connection) -> bytes | None:
        built = await build(conn, await merchant_id(conn, args.merchant), key)
        return None if built is None else gzip.decompress(built.body_gzip)

    try:
        with database(directory) as url:
            data = asyncio.run(_with_database(url, export))
    except UnknownMerchant as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if data is None:
        print(f"error: {args.merchant!r} has no configuration yet", file=sys.stderr)
        return 1
    args.out.write_bytes(data)
    print(f"{args.out}: configuration document of {args.merchant!r}, {len(data)} bytes", flush=True)
    return 0


def cmd_device_move(args: argparse.Namespace) -> int:
    from central.audit import Actor
    from central.enroll import MoveRefused, move_device

    actor = Actor.command_line(datetime.now(UTC))
    try:
        with database(central_dir(args.data_dir)) as url:
            old, new = asyncio.run(
                _with_database(
                    url, lambda conn: move_device(conn, args.device_id, args.merchant, actor)
                )
            )
    except MoveRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.device_id} moved from {old!r} to {new!r}", flush=True)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_central_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``central`` (serve) and ``central enroll-code`` on the ``bitagora`` parser."""
    data_dir_help = (
        "central state lives in <data-dir>/central (default: $BITAGORA_DATA_DIR or "
        f"{DEFAULT_DATA_DIR}); DATABASE_URL, if set, replaces the embedded database"
    )
    central = subparsers.add_parser(
        "central",
        help="fleet backend: ingest, enrollment, ops dashboard",
        description="Serve central (default), or make an enrollment code.",
    )
    central.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    central.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    central.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    central.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes serving on one socket (default 1; docs/OPERATIONS.md, Scaling out)",
    )
    central.set_defaults(func=cmd_serve)
    actions = central.add_subparsers(dest="central_command", metavar="ACTION")
    code = actions.add_parser(
        "enroll-code",
        help="print a one-time enrollment code",
        description="Print a one-time device enrollment code on stdout.",
    )
    code.add_argument("--merchant", required=True, help="merchant the device will belong to")
    # SUPPRESS keeps a --data-dir given before the action from being reset to None.
    code.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
    code.add_argument(
        "--ttl-hours", type=float, default=24.0, help="hours until the code expires (default 24)"
    )
    code.set_defaults(func=cmd_enroll_code)
    from central.tenants_cli import add_tenant_parsers

    add_tenant_parsers(actions, data_dir_help)
    from central.migrate_cli import add_migrate_parser

    add_migrate_parser(actions, data_dir_help)
    from central.backup_cli import add_backup_parsers

    add_backup_parsers(actions, data_dir_help)
    catalog = actions.add_parser(
        "catalog",
        help="import or export a merchant's catalog (the device's CSV format, docs/CATALOG.md)",
        description="Import or export a merchant's catalog as the device's CSV file.",
    )
    catalog_actions = catalog.add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True
    )
    imports = catalog_actions.add_parser(
        "import",
        help="make FILE.csv the merchant's whole catalog (refused whole if any row is bad)",
    )
    imports.add_argument("--merchant", required=True, help="the merchant's name")
    imports.add_argument("file", type=Path, metavar="FILE.csv")
    imports.set_defaults(func=cmd_catalog_import)
    exports = catalog_actions.add_parser("export", help="write the merchant's catalog as CSV")
    exports.add_argument("--merchant", required=True, help="the merchant's name")
    exports.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    exports.set_defaults(func=cmd_catalog_export)
    config = actions.add_parser(
        "config",
        help="write a merchant's signed configuration document (for a USB stick)",
        description="Write the merchant's signed configuration document (docs/PROTOCOL.md 2.6), "
        "the bytes its devices fetch, for bitagora config apply FILE on a till offline.",
    )
    config_actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    config_export = config_actions.add_parser("export", help="write the document to a file")
    config_export.add_argument("--merchant", required=True, help="the merchant's name")
    config_export.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    config_export.set_defaults(func=cmd_config_export)
    device = actions.add_parser(
        "device",
        help="move an enrolled device to another merchant",
        description="Move an enrolled device to another merchant (an enrollment code cannot).",
    )
    device_actions = device.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    move = device_actions.add_parser("move", help="give the device to another merchant")
    move.add_argument("device_id", metavar="DEVICE_ID")
    move.add_argument("--merchant", required=True, help="the merchant it moves to")
    move.set_defaults(func=cmd_device_move)
    for sub in (imports, exports, config_export, move):
        sub.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m central.cli``), same arguments as ``bitagora central``."""
    parser = argparse.ArgumentParser(prog="bitagora")
    add_central_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["central", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
