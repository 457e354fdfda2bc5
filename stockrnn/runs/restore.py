"""A saved run brought back to work: its model with trained weights, and prices seen through its scalers."""

from __future__ import annotations

from stockrnn.data.store import PriceStore
from stockrnn.dataset.prepare import load_feature_frames
from stockrnn.dataset.windows import Panel, build_panel
from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.safe_read import WEIGHTS_LIMIT, read_bytes
from stockrnn.runs.folder import RunFolder


def load_weights(run: RunFolder, model) -> None:
    """Load the run's weights into `model`; never unpickles anything but tensors."""
    import io
    import pickle
    import warnings

    import torch

    from stockrnn.runs.schema import file_digest

    weights = run.path / "model.pt"
    try:
        data = read_bytes(weights, WEIGHTS_LIMIT)
    except (DataError, MissingInputError) as exc:
        raise DataError(f"run {run.run_id}: {exc}; retrain") from None
    if run.manifest.weights_sha256 is not None and file_digest(data) != run.manifest.weights_sha256:
        raise DataError(
            f"run {run.run_id}: {weights.name} changed since the run was saved (checksum mismatch); retrain"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickle protocols before refusing them
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"run {run.run_id}: {weights.name} is not a loadable weights-only checkpoint ({first_line}); retrain"
        ) from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise DataError(
            f"run {run.run_id}: weights do not fit the model its config describes ({str(exc).splitlines()[0]})"
        ) from None


def restore(run: RunFolder):
    """The run's config and its model with trained weights, on the CPU, in eval mode."""
    from stockrnn.config.schema import Config
    from stockrnn.forecasters.models import build_model

    config = Config.model_validate(run.config)
    manifest = run.manifest
    model = build_model(config, len(manifest.features), manifest.horizon, manifest.levels)
    load_weights(run, model)
    return config, model.eval()


def run_panel(
    run: RunFolder, store: PriceStore, tickers: list[str], last_rows: int | None = None, until=None
) -> Panel:
    """The tickers' features scaled with the run's own scalers; the newest `last_rows` sessions (up
    to the date `until`) if given."""
    manifest = run.manifest
    frames, names = load_feature_frames(
        store, tickers, manifest.features, manifest.target, last_rows, until=until
    )
    scalers = {t: manifest.scalers[t] for t in tickers}
    return build_panel(frames, names, names[0], "", None, scalers=scalers)
