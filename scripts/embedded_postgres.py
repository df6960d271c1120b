"""PostgreSQL 16 from PyPI (`pgserver`'s binaries) for a machine with no PostgreSQL server.

    python scripts/embedded_postgres.py start --port 5432 --data /tmp/crisisdesk-pgserver-5432
    python scripts/embedded_postgres.py stop --data /tmp/crisisdesk-pgserver-5432

`start` initialises the data directory once (trust auth, superuser `postgres`), starts the server
on 127.0.0.1 and the given port, detached so it outlives this command, and creates the `test`
database the suite connects to. PostgreSQL refuses to run as root: as root, the server runs as
the system user `pgserver`, which pgserver's own helpers create and grant access to its binaries.
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
import sys
import warnings
from pathlib import Path

with warnings.catch_warnings():  # platformdirs warns of an unset XDG_RUNTIME_DIR on import
    warnings.simplefilter("ignore")
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DATABASE = "test"
SYSTEM_USER = "pgserver"  # the user pgserver itself runs PostgreSQL as under root


def _server_user(data: Path) -> str | None:
    """The system user to run PostgreSQL as (None: the current one), with access granted."""
    if os.geteuid() != 0:
        return None
    entry = ensure_user_exists(SYSTEM_USER)
    assert entry is not None
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    ensure_prefix_permissions(data)
    os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    return SYSTEM_USER


def _run(tool: str, args: list[str], user: str | None) -> None:
    """Run one of PostgreSQL's programs; its chatter is dropped, its errors are not."""
    command = [str(POSTGRES_BIN_PATH / tool), *args]
    subprocess.run(command, check=True, user=user, stdout=subprocess.DEVNULL)  # noqa: S603


def _running(data: Path, user: str | None) -> bool:
    status = subprocess.run(  # noqa: S603 (pgserver's own binaries)
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data), "status"],
        user=user,
        capture_output=True,
        check=False,
    )
    return status.returncode == 0


def start(data: Path, port: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    user = _server_user(data)
    if not (data / "PG_VERSION").exists():
        _run(
            "initdb",
            ["-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=utf8", "--no-sync"],
            user,
        )
    if not _running(data, user):
        server_options = f"-h {HOST} -p {port} -k {data}"
        log = data / "server.log"
        _run("pg_ctl", ["-D", str(data), "-w", "-l", str(log), "-o", server_options, "start"], user)
    databases = subprocess.run(  # noqa: S603 (pgserver's own binaries)
        [
            str(POSTGRES_BIN_PATH / "psql"),
            f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres",
            "-tAc",
            "SELECT datname FROM pg_database",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    if DATABASE not in databases.stdout.split():
        _run("createdb", ["-h", HOST, "-p", str(port), "-U", SUPERUSER, DATABASE], None)


def stop(data: Path) -> None:
    owner = pwd.getpwuid(data.stat().st_uid).pw_name
    user = owner if os.geteuid() == 0 and owner != "root" else None
    if _running(data, user):
        _run("pg_ctl", ["-D", str(data), "-w", "-m", "fast", "stop"], user)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--data", type=Path, required=True, help="the server's data directory")
    parser.add_argument("--port", type=int, default=5432)
    args = parser.parse_args()
    data = args.data.resolve()
    try:
        if args.action == "start":
            start(data, args.port)
        else:
            stop(data)
    except subprocess.CalledProcessError as error:
        log = data / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        print(f"embedded PostgreSQL: {error}\n{tail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
