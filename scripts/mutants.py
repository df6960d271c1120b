"""`make mutants`: mutmut over the domain rules and the enforcement code outside the domain (sending
at most once, Idempotency-Key binding), then a score per module and the survivors.

mutmut's settings (which modules, which tests) live in pyproject.toml under [tool.mutmut]; its work
dir is ./mutants/ (gitignored). Survivors that no test can kill are listed, one per line with a
one-line why, in tests/mutants-equivalent.txt; they count neither for nor against a module.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "mutants"
EQUIVALENT_LIST = ROOT / "tests" / "mutants-equivalent.txt"
KILLED_CODES = {1, 3, 36, 37, -24, 24, 152, 255}  # a failing test, a timeout or the type checker


@dataclass
class ModuleScore:
    killed: int = 0
    equivalent: int = 0
    survivors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.killed + len(self.survivors)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def equivalent_mutants() -> dict[str, str]:
    """The committed list: `mutant_name  # why` per line."""
    listed: dict[str, str] = {}
    for line in EQUIVALENT_LIST.read_text().splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            listed[name.strip()] = why.strip()
    return listed


def status_of(code: int | None) -> str:
    named = {0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}
    return named.get(code, f"exit {code}")


def scores(equivalent: dict[str, str]) -> dict[str, ModuleScore]:
    by_module: dict[str, ModuleScore] = defaultdict(ModuleScore)
    for meta in sorted(WORK_DIR.rglob("*.py.meta")):
        module = str(meta.relative_to(WORK_DIR)).removesuffix(".meta")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            entry = by_module[module]
            if code in KILLED_CODES:
                entry.killed += 1
            elif name in equivalent:
                entry.equivalent += 1
            else:
                entry.survivors.append((name, status_of(code)))
    return {module: entry for module, entry in by_module.items() if entry.killed or entry.survivors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-score", type=float, default=90.0, help="fail below this per module")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep mutmut's work dir ./mutants/ to inspect survivors with `mutmut show NAME`",
    )
    parser.add_argument("--report-only", action="store_true", help="score a kept run again")
    args = parser.parse_args()

    started = time.monotonic()
    if not args.report_only:
        shutil.rmtree(WORK_DIR, ignore_errors=True)
        mutmut = Path(sys.executable).with_name("mutmut")
        log = ROOT / ".mutmut-run.log"
        with log.open("w") as out:
            # A fixed command: the venv's own mutmut, no input from outside.
            run = subprocess.run(  # noqa: S603
                [str(mutmut), "run"], cwd=ROOT, stdout=out, stderr=out, check=False
            )
        if run.returncode != 0:
            print(log.read_text()[-4000:], file=sys.stderr)
            return run.returncode

    equivalent = equivalent_mutants()
    table = scores(equivalent)
    print(f"{'module':<40} {'killed':>7} {'survived':>9} {'equiv.':>7} {'score':>7}")
    for module, entry in table.items():
        print(
            f"{module:<40} {entry.killed:>7} {len(entry.survivors):>9} "
            f"{entry.equivalent:>7} {entry.score:>6.1f}%"
        )
    killed = sum(entry.killed for entry in table.values())
    counted = sum(entry.counted for entry in table.values())
    print(f"{'all':<40} {killed:>7} {counted - killed:>9} {'':>7} {100 * killed / counted:>6.1f}%")

    for module, entry in table.items():
        if entry.survivors:
            print(f"\nsurvivors in {module}:")
            for name, status in entry.survivors:
                print(f"  {name}: {status}")

    known = {
        name
        for meta in WORK_DIR.rglob("*.py.meta")
        for name in json.loads(meta.read_text())["exit_code_by_key"]
    }
    for name in sorted(set(equivalent) - known):
        print(f"\nstale line in {EQUIVALENT_LIST.name}: {name} is no longer a mutant")
    print(f"\nmake mutants took {time.monotonic() - started:.0f} s")
    if not (args.keep or args.report_only):
        # Its copy of the tree would be a second `domain` package to mypy and pytest.
        shutil.rmtree(WORK_DIR, ignore_errors=True)
        print("(work dir removed; `make mutants MUTANTS_ARGS=--keep` keeps it for `mutmut show`)")

    below = [module for module, entry in table.items() if entry.score < args.min_score]
    if below:
        print(f"below {args.min_score:.0f}%: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
