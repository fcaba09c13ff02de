"""Where the training scripts find their data: the one rule for all of them.

- Data sets copied into the repository (MIT: NAB, dga-series): `data/<set>` (see its SOURCE.md).
- Data sets the repository does not redistribute (SKAB, GPL-3.0): `--data-dir` when given,
  else `$EDGECITE_DATA_DIR/<set>`, else `../shared/data/<set>` beside the checkout when it
  exists (tests/common/mod.rs `external_data` follows the same rule for the Rust tests).

When an external set is absent, `external` prints one line (what is skipped and what to set)
and exits with SKIPPED (77), which scripts/test.sh counts as a skipped stage; under `CI=true`
it exits 1 instead, since CI has the data and must run every stage. A folder given explicitly
(`--data-dir`, `EDGECITE_DATA_DIR`) that lacks the set is an error (exit 2), never a skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIPPED = 77


def repo_data(name: str) -> Path:
    """`data/<name>` in the repository."""
    return REPO / "data" / name


def in_ci() -> bool:
    return os.environ.get("CI", "") in ("true", "1")


def external(name: str, what: str, override: Path | None, probe: str) -> Path:
    """The folder of external data set `name` (`probe` is a file inside it that `what` reads),
    or exit: 77 with one line when it is simply absent, 1 under CI=true, 2 when a folder given
    explicitly lacks it."""
    env = os.environ.get("EDGECITE_DATA_DIR", "")
    if override is not None:
        path, given = override.resolve(), "--data-dir"
    elif env:
        path, given = (Path(env) / name).resolve(), "EDGECITE_DATA_DIR"
    else:
        path, given = (REPO / ".." / "shared" / "data" / name).resolve(), None
    if (path / probe).is_file():
        return path
    if given is not None:
        print(f"error: {what}: {path / probe} not found (from {given})", file=sys.stderr)
        sys.exit(2)
    why = (f"needs the {name} data set (not redistributed), not found at {path}; "
           f"set EDGECITE_DATA_DIR to a folder holding {name}/")
    if in_ci():
        print(f"error: {what}: CI=true, so it must run, but it {why}", file=sys.stderr)
        sys.exit(1)
    print(f"{what}: SKIPPED, {why} to run it", file=sys.stderr)
    sys.exit(SKIPPED)
