"""Filling hidden joints: PoseImputer against scikit-learn's imputers.

Run from the repository root (COCO needs ../shared/data):

    python benchmarks/imputation.py            # COCO (20 000 train persons) and stick figures
    python benchmarks/imputation.py --quick    # smaller data and fewer epochs
    python benchmarks/imputation.py --coco-only --mask-sweep 0.2 0.3 0.4 0.5   # posetok only
    python benchmarks/imputation.py --coco-only --complete   # complete train and val persons only
    python benchmarks/imputation.py --coco-only --complete --training-factor 2   # posetok trained twice as long
    python benchmarks/imputation.py --coco-only --complete --width 128   # posetok's encoder and decoder wider

Visible joints of held-out poses are hidden at random (1, 3 or 6 per pose, or 30 % of
them); every imputer is fitted on the same training poses in the same frame (COCO:
box-normalised as in shared/reference/coco-baselines.md; stick figures: pixels), and
the error is the mean distance between hidden joints and their filled-in values.
The same run also measures what masked training costs on observed joints: the
reconstruction error of complete poses with masked training (``--mask-probability``,
default 0.3, PoseImputer's default) and without. ``--mask-sweep`` fits posetok alone at
several masking probabilities (and at 0) and reports both errors for each. PoseImputer's
transform options ``decode="latent"`` and test-time mirroring (``flip_pairs``, the skeleton's
left-right pairs) get rows of their own, computed with the default's fitted tokenizer
(``--skip-transform-options`` leaves them out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.frozen import FrozenEstimator
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from posetok import PoseImputer, PoseTokenizer
from posetok.datasets import STICK_FIGURE_KEYPOINTS, make_stick_figures
from posetok.impute import DEFAULT_TOKENIZER_PARAMS, default_tokenizer_params
from posetok.metrics import joint_distances, mpjpe
from posetok.readers import COCO_KEYPOINTS
from posetok.symmetry import flip_pairs_from_names

sys.path.insert(0, str(Path(__file__).parent))
from coco_rate_distortion import load  # noqa: E402
from report import format_row  # noqa: E402

SETTINGS = {"1 joint": 1, "3 joints": 3, "6 joints": 6, "30% of joints": 0.3}
# PoseImputer's transform options, run on the default's fitted tokenizer: label -> parameters
# (flip_pairs=True stands for the data set's left-right pairs)
LATENT = 'decode="latent"'
TRANSFORM_OPTIONS = {LATENT: {"decode": "latent"}, "mirrored (flip_pairs)": {"flip_pairs": True},
                     f'{LATENT}, mirrored': {"decode": "latent", "flip_pairs": True}}
FLIP_PAIRS = {"COCO val": flip_pairs_from_names(list(COCO_KEYPOINTS)),
              "stick figures": flip_pairs_from_names(list(STICK_FIGURE_KEYPOINTS))}


def hide(X, setting, rng):
    """Hide observed joints: ``setting`` joints per pose (int) or a fraction (float).

    Poses keep at least one observed joint; a pose with too few is left out.
    Returns the gappy copy, the mask of hidden joints and the rows kept.
    """
    kp = X.reshape(len(X), -1, 2)
    observed = ~np.isnan(kp[..., 0])
    n_obs = observed.sum(1)
    keep = n_obs > (setting if isinstance(setting, int) else 1)
    hidden = np.zeros_like(observed)
    for i in np.flatnonzero(keep):
        joints = np.flatnonzero(observed[i])
        k = setting if isinstance(setting, int) else max(1, int(round(setting * len(joints))))
        k = min(k, len(joints) - 1)
        hidden[i, rng.choice(joints, size=k, replace=False)] = True
    gappy = kp.copy()
    gappy[hidden] = np.nan
    return gappy.reshape(len(X), -1)[keep], hidden[keep], keep


def hidden_errors(imputer, X_test, unit, seed=0):
    """Error on hidden joints of a fitted imputer and the poses it counts, per setting.

    The same seed hides the same joints, so imputers evaluated with it are compared on
    the same gaps.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for setting_name, setting in SETTINGS.items():
        gappy, hidden, keep = hide(X_test, setting, rng)
        d = joint_distances(X_test[keep], imputer.transform(gappy))
        out[setting_name] = (float(d[hidden].mean() * unit), int(keep.sum()))
    return out


def reconstruction_error(tokenizer, X_test, unit):
    """MPJPE of the complete test poses through tokens, and how many there are."""
    complete = X_test[~np.isnan(X_test).any(1)]
    return float(mpjpe(complete, tokenizer.inverse_transform(tokenizer.transform(complete))) * unit), len(complete)


def posetok_imputer(n_epochs, mask_probability, encoder_depth, seed, n_train, training_factor=1.0, width=None):
    """PoseImputer with its default tokenizer, but for the parameters a run varies.

    ``n_epochs=None`` keeps the default's training length for ``n_train`` poses
    (``default_tokenizer_params``), its epochs times ``training_factor``; a number of
    epochs trains that long in the tokenizer's default batches of 512, as this
    benchmark did before that rule. ``width`` sets the encoder's and the decoder's
    mixer width (None: the default's).
    """
    if n_epochs is None:  # the parameters PoseImputer() gives its tokenizer for n_train poses
        params = default_tokenizer_params(n_train)
        params["n_epochs"] = max(1, round(training_factor * params["n_epochs"]))
    else:
        params = {**DEFAULT_TOKENIZER_PARAMS, "n_epochs": n_epochs}
    params.update(mask_probability=mask_probability, encoder_depth=encoder_depth, random_state=seed)
    if width is not None:
        params.update(encoder_width=width, decoder_width=width)
    return PoseImputer(PoseTokenizer(**params))


def training_length(tokenizer):
    return f"{tokenizer.n_epochs} epochs of {tokenizer.batch_size}"


def mask_sweep(name, X_train, X_test, unit, n_epochs, probabilities, encoder_depth, seed=0, training_factor=1.0,
               width=None):
    """posetok alone at several masking probabilities (and 0): hidden-joint and reconstruction errors."""
    rows = []
    for p in sorted({0.0, *probabilities}):
        tic = time.perf_counter()
        imp = posetok_imputer(n_epochs, p, encoder_depth, seed, len(X_train), training_factor, width).fit(X_train)
        row = {"data": name, "mask_probability": p, "fit_s": time.perf_counter() - tic,
               "training": training_length(imp.tokenizer_),
               **{s: err for s, (err, _) in hidden_errors(imp, X_test, unit, seed).items()}}
        row["reconstruction"], row["n_complete"] = reconstruction_error(imp.tokenizer_, X_test, unit)
        rows.append(row)
        print(row, flush=True)
    print()
    print("| mask_probability | " + " | ".join(SETTINGS) + " | complete poses (reconstruction) |")
    print("|---" * (len(SETTINGS) + 2) + "|")
    for r in rows:
        print(f"| {r['mask_probability']:g} | " + " | ".join(f"{r[s]:.2f}" for s in SETTINGS)
              + f" | {r['reconstruction']:.2f} |")
    return rows


def run(name, X_train, X_test, unit, n_epochs, mask_probability, encoder_depth, seed=0, mask_cost=True,
        transform_options=True, training_factor=1.0, width=None):
    """Every imputer on one dataset; with ``transform_options``, also PoseImputer's ``decode="latent"`` and
    test-time mirroring on the same fitted tokenizer (no second fit)."""
    imputers = {
        "posetok PoseImputer": posetok_imputer(n_epochs, mask_probability, encoder_depth, seed, len(X_train),
                                               training_factor, width),
        "SimpleImputer(mean)": SimpleImputer(strategy="mean"),
        "KNNImputer": KNNImputer(),
        "IterativeImputer": IterativeImputer(random_state=seed, max_iter=10),
    }
    fitted = {}
    for label, imp in imputers.items():
        tic = time.perf_counter()
        fitted[label] = imp.fit(X_train)
        length = f" ({training_length(imp.tokenizer_)})" if hasattr(imp, "tokenizer_") else ""
        print(f"{name}: fitted {label}{length} in {time.perf_counter() - tic:.0f} s", flush=True)
        if transform_options and label == "posetok PoseImputer":
            for option, params in TRANSFORM_OPTIONS.items():
                params = {**params, "flip_pairs": FLIP_PAIRS[name]} if "flip_pairs" in params else params
                fitted[f"{label}, {option}"] = PoseImputer(FrozenEstimator(imp.tokenizer_), **params).fit(X_train)
    rows = []
    for label, imp in fitted.items():
        for setting_name, (err, n_poses) in hidden_errors(imp, X_test, unit, seed).items():
            rows.append({"data": name, "hidden": setting_name, "imputer": label, "error": err, "n_poses": n_poses})
            print(format_row(rows[-1]), flush=True)
    # what masked training costs on observed joints: the reconstruction of complete poses
    tokenizers = [(f"mask_probability={mask_probability:g}", fitted["posetok PoseImputer"].tokenizer_)]
    if mask_cost:
        plain = clone(fitted["posetok PoseImputer"].tokenizer_).set_params(mask_probability=0.0)
        tokenizers.append(("mask_probability=0", plain.fit(X_train)))
    for label, tok in tokenizers:
        err, n_complete = reconstruction_error(tok, X_test, unit)
        rows.append({"data": name, "hidden": "none (reconstruction)", "imputer": f"posetok {label}",
                     "error": err, "n_poses": n_complete})
        print(format_row(rows[-1]), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-coco", type=int, default=None, help="COCO train persons (all: 149813)")
    parser.add_argument("--n-epochs", type=int, default=None,
                        help="posetok's epochs, in batches of 512 (default: PoseImputer's own training length, "
                             "which depends on the number of training poses; --quick: 10)")
    parser.add_argument("--training-factor", type=float, default=1.0,
                        help="multiply the epochs of PoseImputer's own training length (not with --n-epochs or "
                             "--quick), e.g. 2 trains twice as long in the same batches")
    parser.add_argument("--coco-only", action="store_true", help="skip the stick figures")
    parser.add_argument("--complete", action="store_true",
                        help="COCO: every imputer fitted on the 8 475 train persons with all 17 joints labelled, "
                             "evaluated on the complete val persons (overrides --n-coco)")
    parser.add_argument("--mask-probability", type=float, default=DEFAULT_TOKENIZER_PARAMS["mask_probability"],
                        help="posetok's masking in fit (default: PoseImputer's)")
    parser.add_argument("--encoder-depth", type=int, default=DEFAULT_TOKENIZER_PARAMS["encoder_depth"],
                        help="posetok's encoder depth (default: PoseImputer's)")
    parser.add_argument("--width", type=int, default=None,
                        help="posetok's encoder and decoder mixer width (default: PoseImputer's, 64)")
    parser.add_argument("--mask-sweep", type=float, nargs="+", default=None, metavar="P",
                        help="fit posetok alone at these masking probabilities (and 0); no other imputers")
    parser.add_argument("--skip-mask-cost", action="store_true",
                        help="skip the second, unmasked fit that measures what masking costs")
    parser.add_argument("--skip-transform-options", action="store_true",
                        help='skip the rows of PoseImputer\'s decode="latent" and mirroring (same fitted tokenizer)')
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds posetok's fit, IterativeImputer and which joints are hidden (a replicate)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.width is not None and args.width < 1:
        parser.error("--width must be a positive integer")
    if args.training_factor <= 0:
        parser.error("--training-factor must be positive")
    if args.training_factor != 1 and (args.n_epochs or args.quick):
        parser.error("--training-factor scales PoseImputer's own training length; it does not combine with "
                     "--n-epochs or --quick")
    n_coco, n_stick, n_epochs = (8000, 3000, 10) if args.quick else (20000, 10000, None)
    n_coco, n_epochs = args.n_coco or n_coco, args.n_epochs or n_epochs
    rng = np.random.default_rng(0)
    X_tr, _, _, _ = load("train")
    X_va, _, _, _ = load("val")
    if args.complete:
        X_tr, X_va = X_tr[~np.isnan(X_tr).any(1)], X_va[~np.isnan(X_va).any(1)]
    else:
        X_tr = X_tr[rng.permutation(len(X_tr))[:n_coco]]
    # MPJPE in % of the larger box side, as in the rate-distortion benchmark
    print(f"COCO: {len(X_tr)} train persons, {len(X_va)} val persons"
          f"{' (the complete ones)' if args.complete else ''}; posetok "
          f"{'the default training length' if n_epochs is None else f'{n_epochs} epochs'}"
          f"{f' x {args.training_factor:g}' if args.training_factor != 1 else ''}, "  # (refused with --n-epochs)
          f"encoder depth {args.encoder_depth}{f', width {args.width}' if args.width else ''}; seed {args.seed}",
          flush=True)
    datasets = [("COCO val", X_tr, X_va, 100 / 1.25)]
    if not args.coco_only:
        X_st, _ = make_stick_figures(n_stick, random_state=0)
        X_st_test, _ = make_stick_figures(2000, random_state=1)
        datasets.append(("stick figures", X_st, X_st_test, 1.0))
    if args.mask_sweep:
        rows = [r for data in datasets
                for r in mask_sweep(*data, n_epochs, args.mask_sweep, args.encoder_depth, seed=args.seed,
                                    training_factor=args.training_factor, width=args.width)]
    else:
        rows = [r for data in datasets
                for r in run(*data, n_epochs, args.mask_probability, args.encoder_depth, seed=args.seed,
                             mask_cost=not args.skip_mask_cost,
                             transform_options=not args.skip_transform_options,
                             training_factor=args.training_factor, width=args.width)]
        print()
        print("| data | hidden | imputer | error on hidden joints |")
        print("|---|---|---|---|")
        for r in rows:
            unit = "% of box" if r["data"] == "COCO val" else "px"
            print(f"| {r['data']} | {r['hidden']} | {r['imputer']} | {r['error']:.2f} {unit} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
