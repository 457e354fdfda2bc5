"""The production run: the one a user chose for cron, named by the alias `production`.

<runs>/production.json holds {"run_id", "promoted_at", "reason", "history": [earlier entries]}.
It is replaced atomically (temp file, fsync, rename) under the runs folder's lock, so a reader
sees the old pointer or the new one. `--run production` resolves it wherever a run is named.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.atomic import write_atomic
from stockrnn.io.json_files import strict_json
from stockrnn.io.locking import exclusive
from stockrnn.io.safe_read import read_json

PRODUCTION = "production"
POINTER = "production.json"
MAX_POINTER_BYTES = 1 << 20  # a pointer is a few hundred bytes; anything larger is not ours


def pointer_file(runs_root: Path) -> Path:
    return Path(runs_root) / POINTER


def read_pointer(runs_root: Path) -> dict | None:
    """The pointer as written, or None when no run was ever promoted."""
    path = pointer_file(runs_root)
    if not path.exists() and not path.is_symlink():
        return None
    data = read_json(path, MAX_POINTER_BYTES)  # a link, FIFO or oversized file is refused
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise DataError(f"{path}: not a production pointer (no run_id); promote a run again")
    return data


def production_run_id(runs_root: Path) -> str:
    pointer = read_pointer(runs_root)
    if pointer is None:
        raise MissingInputError(f"no production run in {runs_root}; choose one with `stockrnn promote RUN`")
    return pointer["run_id"]


def promote(runs_root: Path, run_id: str, reason: str, lock_timeout: float = 30.0) -> dict:
    """Point `production` at `run_id` (already loaded and checked by the caller); the new pointer."""
    root = Path(runs_root)
    with exclusive(root / ".lock", lock_timeout, what=f"the runs folder {root}"):
        earlier = read_pointer(root)
        history = []
        if earlier is not None:
            history = [
                *earlier.get("history", []),
                {k: earlier.get(k) for k in ("run_id", "promoted_at", "reason")},
            ]
        pointer = {
            "run_id": run_id,
            "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "reason": reason,
            "history": history[-100:],  # the latest hundred promotions are plenty to audit
        }
        text = json.dumps(strict_json(pointer), indent=2, sort_keys=True)
        write_atomic(pointer_file(root), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), root=root)
    return pointer
