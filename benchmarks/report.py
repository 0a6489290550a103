"""Progress lines of the benchmark scripts: one readable line per result row, not a raw dict."""

from __future__ import annotations

import numpy as np

from posetok.metrics import codebook_usage


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


def token_usage(tok, ids) -> float:
    """The fraction of a fitted tokenizer's codes that the token columns of ``ids`` use:
    of its ``codebook_size`` codes, or with ``codebooks="per_token"`` of its (position, code)
    pairs. Refinement columns (after the first ``n_tokens``) are left out."""
    return codebook_usage(np.asarray(ids)[:, : tok.n_tokens], tok.codebook_size,
                          per_token=tok.codebooks == "per_token")
