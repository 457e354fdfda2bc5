"""The architecture rows of the benchmark: every model family on the 5-ticker panel at H = 5 with 7
quantile levels (configs/panel.toml), two training epochs each (the second timed), in a process of
its own.

For each: seconds per epoch (training steps and the validation pass), the FLOPs an epoch does as
torch's FlopCounterMode counts them (one batch's forward and backward, times the batches, plus the
validation forwards), the GFLOP/s that makes, and that rate over the machine's fp32 matmul rate:
the distance to the floor, printed. x GRU seq: the epoch over the GRU's in sequence mode, the
default and the fastest way to train a one-directional recurrent stack. The encoder-decoders train
in sequence mode by default ("auto") and are timed in both modes; the GRU over windows, one
direction or two, trains on fused steps (forecasters/models/fused_gru.py) and is timed on nn.GRU's
too.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

FAMILIES = {
    "gru (sequence)": ["training.mode='sequence'"],
    "gru (window)": ["training.mode='window'"],
    "gru window (nn.GRU steps)": ["training.mode='window'"],  # the reference for the fused steps
    "bigru": ["model.bidirectional=true"],
    "bigru (nn.GRU steps)": ["model.bidirectional=true"],  # the reference for the fused steps
    "seq2seq (sequence)": ["model.architecture='seq2seq'", "training.mode='sequence'"],
    "seq2seq (window)": ["model.architecture='seq2seq'", "training.mode='window'"],
    "attention (sequence)": ["model.architecture='attention'", "training.mode='sequence'"],
    "attention (window)": ["model.architecture='attention'", "training.mode='window'"],
    "transformer (sequence)": ["model.architecture='transformer'"],
    "transformer-sinusoidal": ["model.architecture='transformer'", "model.positions='sinusoidal'"],
}


def work_architecture(family: str, sample: str, batches: int | None) -> dict:
    """One epoch of `family` on the panel (or its first `batches` batches, scaled to an epoch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from stockrnn.config.loading import load_config
    from stockrnn.data import fetching
    from stockrnn.data.store import PriceStore
    from stockrnn.dataset.prepare import prepare_training_data
    from stockrnn.forecasters.models import build_model
    from stockrnn.forecasters.tensors import PanelTensors
    from stockrnn.forecasters.training import SequenceBatches, WindowBatches, make_loss, train_model

    root = Path(sample)
    config = load_config(
        root.parents[1] / "configs" / "panel.toml",
        # Two epochs, the second timed: the first also pays one-off costs (torch.optim's first step
        # imports torch._dynamo), which would flatter the fast models' ratios.
        [
            "features.horizon=5",
            "training.epochs=2",
            "training.patience=2",
            "training.device='cpu'",
            *FAMILIES[family],
        ],
    )
    store = PriceStore(Path(tempfile.mkdtemp()) / "store")
    for ticker in config.data.tickers:
        fetching.import_csv(store, root / f"{ticker}.csv", ticker, "sample")
    data = prepare_training_data(config, store)
    training = config.training
    train_ends, val_ends = data.train_ends, data.val_ends
    if batches is not None:  # the quick size: a slice of the epoch and as much of validation, scaled up
        per_batch = (
            training.batch_size
            if training.mode == "window"
            else training.sequence_length * training.sequences_per_batch
        )
        train_ends = train_ends[: batches * per_batch]
        val_ends = val_ends[: max(1, len(val_ends) * len(train_ends) // len(data.train_ends))]
    torch.manual_seed(0)
    model = build_model(config, len(data.feature_names), data.horizon, data.levels)
    if family.endswith("(nn.GRU steps)"):
        model.fused_steps = False
    result = train_model(
        model,
        data.panel,
        train_ends,
        val_ends,
        data.lookback,
        training,
        torch.device("cpu"),
        data.horizon,
        data.levels,
    )
    seconds = result.history[-1].seconds  # the second epoch: its steps and its validation pass
    scale = len(data.train_ends) / len(train_ends)

    # FLOPs: one training batch forward and backward, and one validation chunk forward, counted.
    tensors = PanelTensors(data.panel, data.lookback, torch.device("cpu"), data.horizon)
    loss_fn = make_loss(training.loss, data.levels)
    shuffler = torch.Generator().manual_seed(0)
    if training.mode == "sequence":
        kind = SequenceBatches(
            tensors, data.train_ends, training.sequence_length, training.sequences_per_batch
        )
    else:
        kind = WindowBatches(tensors, data.train_ends, training.batch_size)
    every = list(kind.epoch(shuffler))
    model.train()
    with FlopCounterMode(display=False) as counter:
        loss, _ = kind.loss(model, every[0], loss_fn)
        loss.backward()
    train_flops = counter.get_total_flops() * len(every)
    chunk = torch.from_numpy(data.val_ends[:4096])
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*tensors.inputs(chunk))
    val_flops = counter.get_total_flops() * len(data.val_ends) / len(chunk)
    return {
        "seconds": seconds * scale,
        "flops": train_flops + val_flops,
        "val_loss": result.best_val_loss,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def architecture_rows(worker, matmul_gflops: float, sample: Path, quick: bool) -> None:
    print(
        f"\n{'epoch, panel H=5, 7 levels':<28}{'s/epoch':>9}{'x GRU seq':>10}{'GFLOP':>8}{'GFLOP/s':>9}"
        f"{'x floor':>8}{'val loss':>10}{'params':>9}"
    )
    rows = {
        family: worker("architecture", family, str(sample), 12 if quick else None)[0] for family in FAMILIES
    }
    base = rows["gru (sequence)"]["seconds"]
    for family, row in rows.items():
        rate = row["flops"] / row["seconds"] / 1e9
        print(
            f"{family:<28}{row['seconds']:>9.2f}{row['seconds'] / base:>10.2f}{row['flops'] / 1e9:>8.0f}"
            f"{rate:>9.1f}{matmul_gflops / rate:>8.1f}{row['val_loss']:>10.5f}{row['parameters']:>9,}"
        )
    print(
        f"(x floor: the machine's fp32 matmul rate, {matmul_gflops:.0f} GFLOP/s, over the epoch's achieved "
        "rate; 1 would be every counted FLOP at matmul speed. The second of two epochs from one seed each"
        + ("; quick: 12 batches scaled to an epoch)" if quick else ")")
    )


if __name__ == "__main__":
    import sys

    print(json.dumps(work_architecture(sys.argv[1], sys.argv[2], None)))
