"""The `crisisdesk` command: the embedded stack, worker, API, migrations, seed, staff, audit."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from domain.vocabulary import Role
from infra.cli_audit import audit_app
from infra.cli_support import command_database, command_settings
from infra.settings import Environment, Settings

app = typer.Typer(no_args_is_help=True, help="CrisisDesk: durable emergency case manager")
staff_app = typer.Typer(no_args_is_help=True, help="Staff members and their tokens")
program_app = typer.Typer(no_args_is_help=True, help="Programs")
resources_app = typer.Typer(no_args_is_help=True, help="The local resource directory")
app.add_typer(staff_app, name="staff")
app.add_typer(audit_app, name="audit")
app.add_typer(program_app, name="program")
app.add_typer(resources_app, name="resources")


@app.command()
def migrate() -> None:
    """Apply the database migrations (SQLite or PostgreSQL)."""
    from infra.migrate import upgrade_database

    settings = command_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url)
    typer.echo("database is at the latest migration")


@app.command()
def seed() -> None:
    """Create the demo program and print its staff tokens (development only)."""
    settings = command_settings()
    if settings.environment is Environment.PRODUCTION:
        typer.echo(
            "seed refused: the demo program and its printed tokens are for development "
            "(CRISISDESK_ENVIRONMENT=production)",
            err=True,
        )
        raise typer.Exit(2)
    tokens, device_token = asyncio.run(_seed(settings))
    _print_tokens(tokens)
    typer.echo(f"Demo client's SOS page: {settings.public_url}/sos/{device_token}")


async def _seed(settings: Settings) -> tuple[dict[str, str], str]:
    """The demo staff tokens, and the demo client's SOS page token."""
    from infra.seed import issue_demo_device_token, seed_demo

    async with command_database(settings) as sessions:
        return await seed_demo(sessions), await issue_demo_device_token(sessions)


def _print_tokens(tokens: dict[str, str]) -> None:
    typer.echo("Demo staff tokens (program 'demo'; shown once, re-issued on each start):")
    for role, token in tokens.items():
        typer.echo(f"  {role:<11} {token}")


@program_app.command("add")
def program_add(
    slug: Annotated[str, typer.Option(help="short name, e.g. demo")],
    name: Annotated[str, typer.Option(help="display name")],
    part2: Annotated[
        bool, typer.Option("--part2", help="a 42 CFR Part 2 program: every incident protected")
    ] = False,
) -> None:
    """Create a program."""
    from domain.models.programs import ProgramCreate
    from infra.db import transaction
    from infra.records import create_program

    settings = command_settings()

    async def run() -> str:
        async with command_database(settings) as sessions, transaction(sessions) as session:
            program = await create_program(
                session, data=ProgramCreate(slug=slug, name=name, part2_program=part2)
            )
            return str(program.id)

    typer.echo(asyncio.run(run()))


@staff_app.command("add")
def staff_add(
    program: Annotated[str, typer.Option(help="program slug")],
    role: Annotated[Role, typer.Option(help="clinician, supervisor, followup or admin")],
    name: Annotated[str, typer.Option(help="display name")],
    on_call: Annotated[bool, typer.Option(help="on call for pages")] = False,
    expires_in: Annotated[
        int, typer.Option(min=1, max=3650, help="days until the token expires")
    ] = 90,
) -> None:
    """Add a staff member and print their bearer token (shown once; only its hash is kept)."""
    from datetime import timedelta

    from domain.models.programs import StaffCreate
    from infra.db import transaction
    from infra.records import create_staff, program_by_slug

    settings = command_settings()

    async def run() -> str | None:
        async with command_database(settings) as sessions, transaction(sessions) as session:
            found = await program_by_slug(session, slug=program)
            if found is None:
                return None
            _, token = await create_staff(
                session,
                program_id=found.id,
                data=StaffCreate(name=name, role=role, on_call=on_call),
                token_lifetime=timedelta(days=expires_in),
            )
            return token

    token = asyncio.run(run())
    if token is None:
        typer.echo(f"no program {program!r}", err=True)
        raise typer.Exit(1)
    typer.echo(token)


@staff_app.command("rotate")
def staff_rotate(
    staff: Annotated[str, typer.Argument(help="the staff member's id")],
    expires_in: Annotated[
        int, typer.Option(min=1, max=3650, help="days until the new token expires")
    ] = 90,
) -> None:
    """Issue a staff member a new token and print it; the old token stops working at once."""
    import uuid
    from datetime import timedelta

    from domain.models import Staff
    from infra.db import transaction
    from infra.records import rotate_token

    settings = command_settings()
    try:
        staff_id = uuid.UUID(staff)
    except ValueError:
        typer.echo(f"{staff!r} is not a staff id", err=True)
        raise typer.Exit(2) from None

    async def run() -> str | None:
        async with command_database(settings) as sessions, transaction(sessions) as session:
            member = await session.get(Staff, staff_id)
            if member is None:
                return None
            return await rotate_token(
                session, staff=member, token_lifetime=timedelta(days=expires_in)
            )

    token = asyncio.run(run())
    if token is None:
        typer.echo(f"no staff member {staff}", err=True)
        raise typer.Exit(1)
    typer.echo(token)


@resources_app.command("import")
def resources_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="a CSV file")
    ],
    program: Annotated[str, typer.Option(help="program slug")],
) -> None:
    """Import resources from a CSV file: every row valid, or nothing imported.

    Columns: name,kind,phone,address,zip,lat,lon,region,open_24_7,hours,services.

    Hours are mon=08:00-20:00;tue=..., services a|b; lat and lon may be blank when zip is given.
    """
    from infra.db import transaction
    from infra.directory import ResourceFileError, import_resources, read_resource_csv
    from infra.records import program_by_slug

    settings = command_settings()
    with file.open(encoding="utf-8-sig", newline="") as lines:
        try:
            resources = read_resource_csv(lines)
        except ResourceFileError as error:
            for problem in error.problems:
                typer.echo(f"{file}: {problem}", err=True)
            typer.echo(f"{file}: nothing imported", err=True)
            raise typer.Exit(1) from None

    async def run() -> int | None:
        async with command_database(settings) as sessions, transaction(sessions) as session:
            found = await program_by_slug(session, slug=program)
            if found is None:
                return None
            return await import_resources(session, program_id=found.id, resources=resources)

    imported = asyncio.run(run())
    if imported is None:
        typer.echo(f"no program {program!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"imported {imported} resources into program {program!r}")


@app.command()
def worker() -> None:
    """Run a Temporal worker (scale out by running more)."""
    settings = command_settings()
    asyncio.run(_run_worker(settings, asyncio.Event()))


async def _run_worker(
    settings: Settings, stop: asyncio.Event, *, console_fallback: bool = False
) -> None:
    import structlog

    from infra.metrics_runtime import worker_runtime
    from infra.temporal import connect_temporal, ensure_search_attributes
    from worker import build_worker

    client = await connect_temporal(settings, runtime=worker_runtime(settings))
    await ensure_search_attributes(client)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with command_database(settings) as sessions:
        built = build_worker(
            client, settings=settings, sessions=sessions, console_fallback=console_fallback
        )
        structlog.get_logger("crisisdesk.worker").info(
            "worker.started",
            task_queue=settings.task_queue,
            sdk_metrics_port=settings.worker_metrics_port,
        )
        async with built:
            await stop.wait()


@app.command()
def api() -> None:
    """Serve the HTTP API."""
    import uvicorn

    from api.app import create_app

    settings = command_settings()
    # log_config=None: uvicorn's loggers write through our redacting handler (infra/logging.py).
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )


@app.command()
def dev() -> None:
    """The embedded stack: Temporal dev server, worker and API on SQLite, with demo data."""
    settings = command_settings()
    asyncio.run(_dev(settings))


async def _dev(settings: Settings) -> None:
    from infra.embedded import serve_api, start_dev_server, stop_process, wait_for_temporal
    from infra.migrate import upgrade_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = start_dev_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await wait_for_temporal(settings)
        await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
        tokens, device_token = await _seed(settings)
        worker_task = asyncio.create_task(_run_worker(settings, stop, console_fallback=True))
        api_task = asyncio.create_task(serve_api(settings, stop))
        base = f"http://{settings.api_host}:{settings.api_port}"
        typer.echo("")
        typer.echo(
            "CrisisDesk is running (Ctrl-C stops everything; data stays in "
            f"{settings.data_dir.resolve()})"
        )
        typer.echo(f"  Console        {base}/  (sign in with a staff token below)")
        typer.echo(f"  SOS page       {base}/sos/{device_token}  (the demo client's phone)")
        typer.echo(f"  API            {base}")
        typer.echo(f"  API docs       {base}/docs")
        typer.echo(f"  Readiness      {base}/readyz")
        typer.echo(f"  Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}")
        typer.echo(
            "                 (decrypted for a supervisor signed in to the console: tick "
            "'Include cross-origin credentials' in the UI's Codec Server settings once)"
        )
        typer.echo(
            f"  Temporal       {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace})"
        )
        _print_tokens(tokens)
        await asyncio.gather(worker_task, api_task)
    finally:
        stop.set()
        stop_process(server)
        typer.echo("CrisisDesk stopped.")


def main() -> None:
    app(prog_name="crisisdesk")


if __name__ == "__main__":
    main()
