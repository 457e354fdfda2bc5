"""`stockrnn compare`: several networks and every baseline on one dataset, one leaderboard.

Candidates may differ in [model] and [training] only (quantile levels and calibration excepted):
data, features, split, calibration, lookback and horizon are shared, so every forecaster is fitted on the same
training split and scored on the very same origins, horizons and levels. With a backtest plan the
same holds fold by fold. Each leaderboard row carries the Diebold-Mariano p-value of its loss
against naive and against the row with the lowest loss at that horizon (per-date losses, HLN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stockrnn.config.loading import load_config
from stockrnn.config.schema import Config
from stockrnn.dataset.windows import Panel
from stockrnn.errors import ConfigError
from stockrnn.evaluation.metrics import headline_scope, losses_per_date, score_forecasts
from stockrnn.evaluation.significance import diebold_mariano
from stockrnn.forecasters.quantiles import Forecast
from stockrnn.forecasters.registry import NAMES as BASELINE_AND_MODEL_NAMES

SORT_KEYS = {"pinball": "pinball_vs_naive", "mae": "mae_vs_naive", "crps": "crps_vs_naive"}
SHARED_MODEL_KEYS = ("quantiles", "conformal")


@dataclass(frozen=True)
class Candidate:
    name: str
    config: Config


def candidates_from_files(files: list[Path], overrides: list[str]) -> list[Candidate]:
    """One candidate per config file, named by its file name; `--set` applies to every one."""
    found = [Candidate(Path(f).stem, load_config(Path(f), overrides)) for f in files]
    return checked_candidates(found)


def candidates_from_grid(grid: Path, overrides: list[str]) -> list[Candidate]:
    """A grid TOML: `base` (a config file, relative to the grid), `set` (overrides for all) and a
    [candidates] table of name = [overrides]."""
    from stockrnn.config.loading import tomllib

    grid = Path(grid)
    if not grid.is_file():
        from stockrnn.errors import MissingInputError

        raise MissingInputError(f"grid file {grid} does not exist; see configs/grids/families.toml")
    try:
        spec: dict[str, Any] = tomllib.loads(grid.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{grid}: not valid TOML ({exc})") from None
    table = spec.get("candidates")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f'{grid}: needs a [candidates] table of name = ["section.key=value", ...]')
    if "base" in spec and not isinstance(spec["base"], str):
        raise ConfigError(f"{grid}: base = {spec['base']!r} must be the path of a config file, in quotes")
    shared_set = spec.get("set", [])
    if not isinstance(shared_set, list) or not all(isinstance(e, str) for e in shared_set):
        raise ConfigError(f'{grid}: set = {shared_set!r} must be a list of "section.key=value" strings')
    base = grid.parent / spec["base"] if "base" in spec else None
    shared = [*shared_set, *overrides]
    found = []
    for name, extra in table.items():
        if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
            raise ConfigError(f'{grid}: candidates.{name} must be a list of "section.key=value" strings')
        found.append(Candidate(name, load_config(base, [*shared, *extra])))
    return checked_candidates(found)


def checked_candidates(candidates: list[Candidate]) -> list[Candidate]:
    """Refuse what would make the comparison unfair or ambiguous, naming the first difference."""
    if len(candidates) < 1:
        raise ConfigError("compare needs at least one --config (or a --grid)")
    names = [c.name for c in candidates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"candidate names {repeated} repeat; name each config file differently")
    clashing = sorted(set(names) & set(BASELINE_AND_MODEL_NAMES))
    if clashing:
        raise ConfigError(f"candidate names {clashing} are taken by forecasters; rename those configs")
    first = candidates[0]
    for other in candidates[1:]:
        for section in ("data", "features", "split", "calibration"):
            mine, theirs = getattr(first.config, section), getattr(other.config, section)
            if mine != theirs:
                key = next(k for k in type(mine).model_fields if getattr(mine, k) != getattr(theirs, k))
                raise ConfigError(
                    f"candidate {other.name!r} differs from {first.name!r} in {section}.{key}; compare holds "
                    "data, features and split equal (vary [model] and [training]; compare the rest with separate runs)"
                )
        for key in SHARED_MODEL_KEYS:
            if getattr(first.config.model, key) != getattr(other.config.model, key):
                raise ConfigError(f"candidate {other.name!r} differs from {first.name!r} in model.{key}")
    return candidates


class Remembered:
    """A fitted forecaster whose forecasts are computed once per set of origins: every candidate's
    run scores the same baselines on the same origins."""

    def __init__(self, forecaster):
        self.forecaster = forecaster
        self.name = forecaster.name
        self._made: dict[bytes, Forecast] = {}

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        key = np.asarray(ends).tobytes()  # one panel per comparison: the origins identify the call
        if key not in self._made:
            self._made[key] = self.forecaster.predict(panel, ends)
        return self._made[key]


@dataclass
class Entrant:
    """A candidate's fitted network: what the leaderboard says of it beside its scores."""

    seconds: float
    seconds_per_epoch: float | None
    parameters: int | None


def leaderboard(
    panel: Panel,
    ends: np.ndarray,
    forecasts: dict[str, Forecast],
    raw: dict[str, Forecast],
    naive_scale: np.ndarray,
    entrants: dict[str, Entrant],
    by: str = "pinball",
) -> dict:
    """{"by", "scope", "metrics", "horizons": {"h<h>": [row, ...]}}: rows sorted by the chosen loss."""
    metrics = score_forecasts(panel, ends, forecasts, raw, naive_scale)
    scope = headline_scope(metrics)
    horizon = next(iter(forecasts.values())).values.shape[1]
    rows_in_scope = np.ones(len(ends), dtype=bool)
    if scope != "pooled":
        rows_in_scope = panel.ticker_ids[ends] == panel.tickers.index(scope)
    from stockrnn.dataset.targets import cumulative_log_returns

    actual = cumulative_log_returns(panel, ends, horizon)  # (N, H)
    dates = panel.dates[ends]
    loss_name = "mae" if by == "mae" else "pinball"  # CRPS is tested through its pinball average
    table = {}
    for h in range(horizon):
        scores = {name: metrics[scope][name][f"h{h + 1}"] for name in forecasts}
        losses = {
            name: losses_per_date(f, actual[rows_in_scope, h], rows_in_scope, h, dates[rows_in_scope])[
                loss_name
            ]
            for name, f in forecasts.items()
        }
        ordered = sorted(forecasts, key=lambda name: _sort_value(scores[name], by))
        best = ordered[0]
        rows = []
        for name in ordered:
            entrant = entrants.get(name)
            rows.append(
                {
                    "forecaster": name,
                    "kind": "network" if name in entrants and entrant.parameters is not None else "baseline",
                    "mae_vs_naive": scores[name]["mae_vs_naive"],
                    "pinball_vs_naive": scores[name]["pinball_vs_naive"],
                    "crps_vs_naive": scores[name]["crps_vs_naive"],
                    "coverage_90": scores[name].get("coverage_90"),
                    "seconds": entrant.seconds if entrant else None,
                    "seconds_per_epoch": entrant.seconds_per_epoch if entrant else None,
                    "parameters": entrant.parameters if entrant else None,
                    "p_vs_naive": None if name == "naive" else _p(losses[name], losses["naive"], h + 1),
                    "p_vs_best": None if name == best else _p(losses[name], losses[best], h + 1),
                }
            )
        table[f"h{h + 1}"] = rows
    return {
        "by": by,
        "loss_tested": loss_name,
        "scope": scope,
        "best": _bests(table),
        "horizons": table,
        "metrics": metrics,
    }


def _sort_value(scores: dict, by: str) -> float:
    value = scores.get(SORT_KEYS[by])
    return float("inf") if value is None or not np.isfinite(value) else value


def _p(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int) -> float | None:
    p = diebold_mariano(loss_a, loss_b, horizon)[1]
    return None if np.isnan(p) else float(p)


def _bests(table: dict) -> dict[str, str]:
    return {h: rows[0]["forecaster"] for h, rows in table.items()}


def fit_candidates(
    candidates: list[Candidate],
    data,
    device,
    on_candidate=None,
    on_epoch=None,
    jobs: int = 1,
    ray: str | None = None,
):
    """Fit every candidate's network on the same prepared data (in `jobs` processes if > 1, the
    same weights as in one); baselines once. Returns the fitted forecasters by name (candidates
    first) and what the leaderboard says of each."""
    from stockrnn.forecasters.models import parameter_count
    from stockrnn.forecasters.network import NetworkForecaster
    from stockrnn.forecasters.registry import fit_baselines
    from stockrnn.studies.fanout import run_all, ticker_map

    forecasters, entrants = {}, {}

    def fitted(index: int, outcome) -> None:
        candidate = candidates[index]
        weights, result, seconds = outcome
        network = NetworkForecaster.from_config(
            candidate.config, len(data.feature_names), data.horizon, data.levels
        )
        network.model.load_state_dict(weights)
        network.model.to(device)
        network.result = result
        entrants[candidate.name] = Entrant(seconds, result.seconds_per_epoch, parameter_count(network.model))
        forecasters[candidate.name] = network
        if on_candidate:
            on_candidate(candidate, entrants[candidate.name], len(entrants), len(candidates))

    alone = jobs <= 1 and ray is None
    tasks = [(c.config, data, str(device), on_epoch if alone else None) for c in candidates]
    run_all(fit_network, tasks, jobs, fitted, ray, 1.0 if str(device).startswith("cuda") else 0.0)
    forecasters = {c.name: forecasters[c.name] for c in candidates}  # in the order given
    seconds: dict[str, float] = {}
    forecasters.update(fit_baselines(data.fit_data, seconds, ticker_map(jobs)))
    entrants.update({name: Entrant(s, None, None) for name, s in seconds.items()})
    return forecasters, entrants


def fit_network(config: Config, data, device: str, on_epoch=None):
    """One candidate's network trained on `data`: (weights on the CPU, TrainResult, seconds)."""
    import torch

    from stockrnn.forecasters.network import NetworkForecaster

    torch.manual_seed(config.training.seed)
    network = NetworkForecaster.from_config(config, len(data.feature_names), data.horizon, data.levels)
    started = time.perf_counter()
    network.fit(data.fit_data, config.training, torch.device(device), on_epoch)
    weights = {key: value.detach().cpu() for key, value in network.model.state_dict().items()}
    return weights, network.result, time.perf_counter() - started
