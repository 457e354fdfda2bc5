"""JSON as every reader parses it: no NaN or Infinity, written into a staging folder."""

from __future__ import annotations

import json
import math
from pathlib import Path


def strict_json(data):
    """`data` with every NaN or infinity as None (JSON null): JSON parsers other than Python's
    refuse NaN and Infinity, and a constant-price series makes ratios NaN."""
    if isinstance(data, dict):
        return {key: strict_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json(value) for value in data]
    if hasattr(data, "tolist") and hasattr(data, "ndim"):  # a NumPy array or scalar: plain numbers
        return strict_json(data.tolist())
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def write_json(path: Path, data) -> None:
    """Into a staging folder: publish_folder fsyncs every file before the rename."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(strict_json(data), fh, indent=2, sort_keys=True, allow_nan=False)
