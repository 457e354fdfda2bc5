"""`stockrnn compare`: several configs (or a grid) on one dataset, one leaderboard."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from stockrnn.cli import score_tables
from stockrnn.cli.app import (
    JobsOption,
    JsonOption,
    RayOption,
    RunsOption,
    StoreOption,
    app,
    epoch_reporter,
    handles_errors,
    log,
    print_json,
    restart_bars,
    say,
    showing,
    state,
    stderr,
)


class SortBy(str, Enum):
    pinball = "pinball"
    mae = "mae"
    crps = "crps"


@app.command()
@handles_errors
def compare(
    config_files: list[Path] = typer.Option([], "--config", help="A candidate's TOML config (repeatable)."),
    grid: Path | None = typer.Option(None, "--grid", help="A grid TOML: base config + named candidates."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key in every candidate."),
    by: SortBy = typer.Option(SortBy.pinball, "--by", help="The loss rows are sorted and tested by."),
    backtest: bool = typer.Option(False, "--backtest", help="Compare over walk-forward folds instead."),
    folds: int = typer.Option(4, "--folds", help="With --backtest: folds, newest last."),
    step: int = typer.Option(63, "--step", help="With --backtest: sessions of origins per fold."),
    jobs: int = JobsOption,
    ray: str | None = RayOption,
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Train several networks and every baseline on the same data and split; print one leaderboard."""
    from stockrnn import api, paths
    from stockrnn.errors import UsageError
    from stockrnn.studies.candidates import candidates_from_files, candidates_from_grid

    if bool(config_files) == bool(grid):
        raise UsageError(
            "give either --config (repeatable) or --grid, e.g. --grid configs/grids/families.toml"
        )
    candidates = (
        candidates_from_grid(grid, overrides) if grid else candidates_from_files(config_files, overrides)
    )
    store = paths.store_dir(store_dir)
    if not state.quiet:
        names = ", ".join(f"{c.name} ({c.config.model.label})" for c in candidates)
        how = f"over {folds} walk-forward folds of {step} sessions" if backtest else "on one split"
        stderr.print(f"comparing {names} and the baselines {how}, from {store}")
        stderr.print(_workload(candidates, folds if backtest else 1))
        if jobs > 1 or ray:
            stderr.print(_fan_out(jobs, ray, backtest))
    progress, on_epoch, _ = epoch_reporter(json_output)

    def on_candidate(candidate, entrant, index, total):
        line = f"{index}/{total} {candidate.name}: {entrant.seconds:.1f}s"
        if entrant.parameters is not None:
            line += f", {entrant.parameters:,} parameters, {entrant.seconds_per_epoch or 0:.2f}s/epoch"
        log.info(line)
        if not state.quiet and not json_output:
            (progress.console if progress else stderr).print(line)
        restart_bars(progress)  # the next candidate's epochs are timed from its own start

    with showing(progress):
        done = api.compare(
            {c.name: c.config for c in candidates},
            store,
            paths.runs_dir(runs_dir),
            by=by.value,
            folds=folds if backtest else None,
            step=step,
            jobs=jobs,
            ray=ray,
            on_candidate=on_candidate,
            on_epoch=on_epoch,
        )
    board = done.board
    if json_output:
        print_json({"compare_id": done.id, "path": str(done.path), "runs": done.runs, **board})
        return
    for table in score_tables.leaderboard_tables(board, wide=state.wide):
        say(table)
    say(f"comparison {done.id} saved to {done.path}")
    if done.runs:
        best = board["best"]["h1"]
        saved = ", ".join(f"{name} as {run}" for name, run in done.runs.items())
        say(f"each candidate saved as a run ({saved})")
        if best in done.runs:
            say(f"forecast with the best at h1: stockrnn predict --run {done.runs[best]}")
    elif backtest:
        say("a walk-forward comparison keeps no network (one per fold); train the winner to predict with it")
    from stockrnn.evaluation.verdicts import leaderboard_verdict

    say(leaderboard_verdict(board))


def _fan_out(jobs: int, ray: str | None, backtest: bool) -> str:
    """Said before the fits start: the lines after come as fits finish, not epoch by epoch."""
    from stockrnn.studies.fanout import threads_per_job

    what = "each candidate's folds" if backtest else "the candidates"
    where = f"as Ray tasks ({ray})" if ray else f"{jobs} at a time"
    return f"fitting {what} {where}, {threads_per_job(jobs)} torch thread(s) each; a line as each finishes"


def _workload(candidates, fits: int) -> str:
    """What the comparison is about to cost, said before it starts: the fits, and which candidates
    train in window mode over every session (6-16 s an epoch on the 5-ticker panel on 2 cores,
    README; a patched Transformer reads a few tokens a window and is not among them)."""
    windowed = [
        c.name for c in candidates if c.config.training.mode == "window" and not c.config.model.patch_length
    ]
    epochs = max(c.config.training.epochs for c in candidates)
    line = (
        f"{len(candidates) * fits} fit(s): {len(candidates)} candidate(s) x {fits}, up to {epochs} "
        f"epoch{'s' if epochs != 1 else ''} each"
    )
    if windowed:
        line += (
            f"; {', '.join(windowed)} train{'s' if len(windowed) == 1 else ''} in window mode, the slow "
            "kind (3-10x a GRU's epoch in sequence mode; README: compare)"
        )
    return line
