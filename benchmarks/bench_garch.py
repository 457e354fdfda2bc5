"""The GARCH row of the benchmark: the per-ticker GARCH baseline fits of `train --jobs 2` against
one process, side by side, on synthetic Student-t returns (14 years each), two rounds."""

from __future__ import annotations

import time
from types import SimpleNamespace


def garch_rows(quick: bool) -> None:
    import numpy as np

    from stockrnn.forecasters.garch import Garch
    from stockrnn.studies.fanout import ticker_map

    tickers = 200 if quick else 500
    rng = np.random.default_rng(0)
    series = [rng.standard_t(5, 3500) * 0.01 for _ in range(tickers)]
    data = SimpleNamespace(
        levels=(0.5,),
        horizon=1,
        panel=SimpleNamespace(tickers=[f"S{i:03d}" for i in range(tickers)]),
        training_returns=lambda index: series[index],
    )
    print(f"\n{f'GARCH baselines, {tickers} tickers':<34}{'here s':>8}{'--jobs 2 s':>11}{'x':>7}")
    for round_ in (1, 2):
        started = time.perf_counter()
        here = Garch().fit(data)
        alone = time.perf_counter() - started
        started = time.perf_counter()
        spread = Garch().fit(data, ticker_map(2))
        fanned = time.perf_counter() - started
        same = all(np.array_equal(here.params[t], spread.params[t]) for t in here.params)
        print(
            f"{f'round {round_}' + ('' if same else ' (DIFFERENT parameters)'):<34}"
            f"{alone:>8.1f}{fanned:>11.1f}{alone / fanned:>7.2f}"
        )
