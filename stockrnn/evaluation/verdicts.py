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
    return sentence + "."


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
