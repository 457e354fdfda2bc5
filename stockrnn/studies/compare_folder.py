"""A compare folder beside the runs, written like a run (staged, renamed into place).

<runs>/compares/<id>/
  manifest.json     when, tickers, horizon, levels, each candidate's resolved config, the backtest
                    plan (if any), data fingerprint, versions
  leaderboard.json  {"by", "scope", "best", "horizons": {"h<h>": [row, ...]}, "metrics": ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.atomic import publish_folder
from stockrnn.runs.folder import LATEST, _write_json, check_run_name, new_run_id, order_key

FOLDER = "compares"


@dataclass
class Comparison:
    compare_id: str
    path: Path
    manifest: dict
    leaderboard: dict


def compares_dir(runs_root: Path) -> Path:
    return Path(runs_root) / FOLDER


def new_compare_id(candidates: int, tickers: list[str]) -> str:
    return new_run_id(f"compare{candidates}", tickers)


def save_compare(runs_root: Path, compare_id: str, manifest: dict, leaderboard: dict) -> Path:
    def write(staging: Path, final_id: str) -> None:
        _write_json(staging / "manifest.json", {**manifest, "compare_id": final_id})
        _write_json(staging / "leaderboard.json", leaderboard)

    root = compares_dir(runs_root)
    return publish_folder(root, compare_id, write, 30.0, f"the compares folder {root}")


def load_compare(runs_root: Path, name: str = LATEST) -> Comparison:
    root = compares_dir(runs_root)
    if name == LATEST:
        found = [e.name for e in sorted(root.iterdir()) if _is_compare(e)] if root.is_dir() else []
        if not found:
            raise MissingInputError(f"no comparisons in {root}; run `stockrnn compare`")
        loaded = [load_compare(runs_root, n) for n in found]
        return max(loaded, key=lambda c: order_key(c.compare_id, str(c.manifest["created_at"])))
    check_run_name(root, name)
    path = root / name
    if not _is_compare(path):
        raise MissingInputError(f"no comparison {name!r} in {root}")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        leaderboard = json.loads((path / "leaderboard.json").read_text())
        manifest["created_at"], leaderboard["horizons"]  # noqa: B018 - files without them are not ours
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"comparison {name}: unreadable manifest or leaderboard ({exc!r})") from None
    return Comparison(name, path, manifest, leaderboard)


def _is_compare(entry: Path) -> bool:
    real = entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    return real and (entry / "manifest.json").is_file()
