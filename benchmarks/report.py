"""Progress lines of the benchmark scripts: one readable line per result row, not a raw dict."""

from __future__ import annotations

import numpy as np


def format_row(row: dict) -> str:
    """``key=value`` pairs with numbers rounded for reading (the JSON keeps them whole).

    >>> format_row({"method": "kmeans", "ap": np.float64(93.456), "bits": 128, "mpjpe": 0.0012345})
    'method=kmeans ap=93.46 bits=128 mpjpe=0.001234'
    """
    def fmt(value):
        if isinstance(value, bool | np.bool_):
            return str(bool(value))
        if isinstance(value, int | np.integer):
            return str(int(value))
        if isinstance(value, float | np.floating):
            return f"{float(value):.4g}"
        return str(value)

    return " ".join(f"{k}={fmt(v)}" for k, v in row.items())
