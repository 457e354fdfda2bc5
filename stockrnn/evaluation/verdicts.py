"""What the scores say, in one sentence: plain text that the terminal and the HTML reports both show."""

from __future__ import annotations

from stockrnn.evaluation.metrics import headline_scope, metrics_by_horizon


def _horizons(names: list[str]) -> str:
    """["h1", "h2", "h3", "h5"] -> "h1-h3, h5"."""
    numbers = [int(n.removeprefix("h")) for n in names]
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][-1] + 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    return ", ".join(f"h{s[0]}" if len(s) == 1 else f"h{s[0]}-h{s[-1]}" for s in spans)


def _judge(model: dict, p_key: str, ratio_of, level: float) -> list[str]:
    """Phrases saying at which horizons the model is significantly better, worse, or neither."""
    better, worse, unclear, ps = [], [], [], []
    for horizon, scores in model.items():
        p, ratio = scores.get(p_key), ratio_of(scores)
        if p is not None and p == p and p < level and ratio is not None:
            (better if ratio < 1 else worse).append(horizon)
        else:
            unclear.append(horizon)
            if p is not None and p == p:
                ps.append(p)
    phrases = []
    if better:
        phrases.append(f"significantly better at {_horizons(better)}")
    if worse:
        phrases.append(f"significantly worse at {_horizons(worse)}")
    if unclear:
        span = f" (p {min(ps):.2f}-{max(ps):.2f})" if len(ps) > 1 else f" (p {ps[0]:.2f})" if ps else ""
        phrases.append(f"not significantly different at {_horizons(unclear)}{span}")
    return phrases


def edge_verdict(metrics: dict, level: float = 0.05) -> str:
    """One sentence: is the model's pinball loss different from naive's (and from the best
    baseline's), horizon by horizon, at `level`?"""
    metrics = metrics_by_horizon(metrics)
    scope = headline_scope(metrics)
    model = metrics[scope].get("model", {})
    if not any("dm_pinball_p" in scores for scores in model.values()):
        return f"{scope}: this run has no significance tests (trained before stockrnn had them); retrain."
    against_naive = _judge(model, "dm_pinball_p", lambda m: m.get("pinball_vs_naive"), level)
    best = sorted({m["best_baseline"] for m in model.values() if "best_baseline" in m})

    against_best = _judge(model, "dm_pinball_p_vs_best", lambda m: m.get("pinball_vs_best"), level)
    sentence = f"{scope}, pinball loss, Diebold-Mariano (HLN) at {level:.0%}: against naive the model is "
    sentence += "; ".join(against_naive)
    if best and best != ["naive"]:
        sentence += f"; against the best baseline ({', '.join(best)}) it is " + "; ".join(against_best)
    return " ".join([sentence + ".", *_where_the_edge_is(model, level), *_coverage_sentences(model, level)])


def _where_the_edge_is(model: dict, level: float) -> list[str]:
    """Say so when the model beats naive in the spread (pinball) where its median does not (MAE)."""
    spread_only = [
        h
        for h, m in model.items()
        if "dm_mae_p" in m
        and (m.get("dm_pinball_p") or 1) < level
        and (m.get("pinball_vs_naive") or 1) < 1
        and not ((m.get("dm_mae_p") or 1) < level and (m.get("mae_vs_naive") or 1) < 1)
    ]
    if not spread_only:
        return []
    return [
        f"At {_horizons(spread_only)} the edge over naive is in the spread, not the median (MAE/naive not significantly below 1)."
    ]


def _coverage_sentences(model: dict, level: float) -> list[str]:
    """The 90% interval's coverage at h1 (and H) with Kupiec's test, e.g. "the 90% interval covered
    86.9% of 1,238 outcomes at h1, below nominal: Kupiec p 0.002"."""
    found = []
    horizons = list(model)
    for h in dict.fromkeys([horizons[0], horizons[-1]]):
        m = model[h]
        if "coverage_90" not in m or "outcomes" not in m:
            continue
        covered, p = m["coverage_90"], m.get("kupiec_p_90")
        if p is not None and p == p and p < level:
            judged = "below nominal" if covered < 0.9 else "above nominal"
        else:
            judged = "consistent with nominal"
        tested = (
            f": Kupiec p {p:.3f}"
            if p is not None and p == p and p >= 0.001
            else ": Kupiec p < 0.001"
            if p == p and p is not None
            else ""
        )
        found.append(
            f"The 90% interval covered {covered:.1%} of {m['outcomes']:,} outcomes at {h}, {judged}{tested}."
        )
    return found


def leaderboard_verdict(board: dict, level: float = 0.05) -> str:
    """A sentence per horizon span: who is best, and who is not significantly different from it."""
    sentences = []
    for horizon, rows in board["horizons"].items():
        best = rows[0]["forecaster"]
        tied = [r["forecaster"] for r in rows[1:] if r["p_vs_best"] is None or r["p_vs_best"] >= level]
        beats_naive = [
            r["forecaster"]
            for r in rows
            if r["forecaster"] != "naive"
            and r["p_vs_naive"] is not None
            and r["p_vs_naive"] < level
            and (r["pinball_vs_naive"] if board["loss_tested"] == "pinball" else r["mae_vs_naive"]) < 1
        ]
        sentences.append(
            f"{horizon}: lowest {board['by']} {best}; not significantly different from it at {level:.0%}: "
            f"{', '.join(tied) or 'none'}; significantly better than naive: {', '.join(beats_naive) or 'none'}."
        )
    return "\n".join(sentences)
