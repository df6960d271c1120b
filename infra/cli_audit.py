"""`crisisdesk audit`: verify the keyed audit chain (optionally against an anchor file) and anchor
its heads to a file kept off the database host (SPEC 6 and 10.2)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from infra.cli_support import command_database, command_settings

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log")


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="an anchor file (crisisdesk audit anchor): its heads must all still be there",
        ),
    ] = None,
) -> None:
    """Walk the audit chain under its key; exit non-zero naming the first altered event, or with
    --anchor the anchored events that are gone (the newest events deleted)."""
    from domain.audit import read_anchors
    from infra.audit_log import audit_key_for, use_audit_key, verify_chain

    settings = command_settings()
    use_audit_key(audit_key_for(settings))
    try:
        anchors = read_anchors(anchor.read_text()) if anchor else []
    except ValueError as error:
        typer.echo(f"{anchor}: {error}", err=True)
        raise typer.Exit(2) from None

    async def run() -> int:
        async with command_database(settings) as sessions:
            checked, broken = await verify_chain(sessions, anchors)
        if broken is None:
            typer.echo(f"audit chain intact: {checked} events verified")
            return 0
        where = f"event {broken.event_id}" if broken.event_id else "an anchored event"
        typer.echo(
            f"audit chain BROKEN at {where} (program {broken.program_id}, "
            f"seq {broken.seq}): {broken.problem}; {checked} events verified",
            err=True,
        )
        return 1

    raise typer.Exit(asyncio.run(run()))


@audit_app.command("anchor")
def audit_anchor(
    file: Annotated[
        Path, typer.Argument(dir_okay=False, help="the anchor file to append to; - for stdout")
    ],
) -> None:
    """Append the head of every program's chain (sequence, hash, time) to FILE: keep it outside
    the database, so `audit verify --anchor FILE` finds events deleted since."""
    from datetime import UTC, datetime

    from infra.audit_log import audit_key_for, chain_heads, use_audit_key

    settings = command_settings()
    use_audit_key(audit_key_for(settings))

    async def run() -> str:
        async with command_database(settings) as sessions:
            return (await chain_heads(sessions, datetime.now(UTC))).line()

    line = asyncio.run(run())
    if str(file) == "-":  # from a container: the operator redirects it off the host
        typer.echo(line, nl=False)
        return
    with file.open("a", encoding="utf-8") as handle:
        handle.write(line)
    typer.echo(f"anchored {line.count('program_id')} chain heads in {file}")
