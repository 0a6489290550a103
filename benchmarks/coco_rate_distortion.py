"""Reconstruction per bit on COCO val: posetok against classic quantizers.

Run from the repository root (needs ../shared/data, see docs/benchmarks.md):

    python benchmarks/coco_rate_distortion.py           # 40 000 train persons, all budgets
    python benchmarks/coco_rate_distortion.py --quick   # 8 000 persons, 2 budgets, a few minutes
    python benchmarks/coco_rate_distortion.py --configs 2x256+2x128   # only these posetok configurations

A posetok configuration is written ``MxV`` (M tokens of V codes) or ``MxV+SxR`` (then S
refinement stages of R codes per keypoint): ``4x256+2x128`` is
``PoseTokenizer(4, codebook_size=256, refinement_stages=2, refinement_codebook_size=128)``,
4 * 8 + 2 * 17 * 7 = 270 bits per pose.

Every method sees the same box-normalised poses (shared/reference/coco-baselines.md):
centre = box centre, scale = 1.25 * max(w, h / 0.75). Baselines are fitted on the train
persons with all 17 joints labelled; posetok trains on train persons with any labelled
joint (unlabelled joints are NaN and left out of its loss). Evaluation: the 3153 val
persons whose segment area is known, labelled joints only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from report import format_row  # the scripts run from this folder
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from posetok import PoseTokenizer
from posetok.datasets import normalize_to_box, visibility_to_nan
from posetok.metrics import mpjpe, object_keypoint_similarity, oks_ar

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BUDGETS = (32, 64, 128, 256, 374)
# posetok's configurations at each budget: tokens alone, and from 128 bits also a few tokens
# plus residual refinement stages (never more bits than the budget's scalar-quantization point).
POSETOK_CONFIGS = {
    32: ("4x256",),
    64: ("8x256",),
    128: ("16x256", "2x256+1x64"),
    136: ("17x256",),
    256: ("32x256", "2x256+2x128"),
    374: ("34x2048", "4x256+2x1024"),
}


def parse_config(text):
    """``"MxV"`` or ``"MxV+SxR"`` -> PoseTokenizer parameters."""
    try:
        tokens, _, refinement = text.partition("+")
        n_tokens, codebook_size = map(int, tokens.split("x"))
        stages, refinement_size = map(int, refinement.split("x")) if refinement else (0, 256)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MxV or MxV+SxR, e.g. 4x256+2x128") from None
    return {"n_tokens": n_tokens, "codebook_size": codebook_size,
            "refinement_stages": stages, "refinement_codebook_size": refinement_size}


def load(split):
    path = DATA / f"coco2017_{split}_person_keypoints.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found: this benchmark reads the COCO keypoints of shared/data")
    d = np.load(path)
    X, centre, scale = normalize_to_box(d["keypoints"], d["bbox"])
    X = visibility_to_nan(X, d["visibility"])
    return X, centre, scale, d["area"]


def scores(X_true, X_hat, scale, area):
    px = lambda X: X.reshape(len(X), -1, 2) * scale[:, None, None]  # noqa: E731
    oks = object_keypoint_similarity(px(X_true), px(X_hat), area)
    return {"oks_ar": oks_ar(oks), "mpjpe_pct": 100 * mpjpe(X_true, X_hat) / 1.25}


# ---------------------------------------------------------------- baselines
def per_joint_kmeans(train, bits, seed):
    k = int(min(2 ** (bits / 17), 4096))
    models = [KMeans(k, n_init=1, random_state=seed).fit(train[:, 2 * j : 2 * j + 2]) for j in range(17)]

    def codec(X):
        X = np.nan_to_num(X)
        return np.hstack([m.cluster_centers_[m.predict(X[:, 2 * j : 2 * j + 2])] for j, m in enumerate(models)])

    return codec, 17 * np.log2(k)


def whole_pose_kmeans(train, bits, seed):
    k = int(min(2**bits, 4096))
    m = KMeans(k, n_init=1, random_state=seed).fit(train)
    return (lambda X: m.cluster_centers_[m.predict(np.nan_to_num(X))]), np.log2(k)


def _uniform(values, lo, hi, levels):
    step = (hi - lo) / levels
    return lo + (np.clip(np.floor((values - lo) / step), 0, levels - 1) + 0.5) * step


def scalar(train, bits, seed):
    b = max(1, round(bits / 34))
    return (lambda X: _uniform(np.nan_to_num(X), -0.5, 0.5, 2**b)), 34 * b


def pca_scalar(train, bits, seed):
    """PCA, then uniform quantization of each component over its train range; the
    split of bits between components and bits per component is chosen on train."""
    best = None
    for n_comp in (2, 4, 6, 8, 12, 16, 24, 34):
        b = bits // n_comp
        if b < 1 or b > 16:
            continue
        pca = PCA(n_comp, random_state=seed).fit(train)
        Z = pca.transform(train)
        lo, hi = Z.min(0), Z.max(0)
        rec = lambda X, p=pca, lo=lo, hi=hi, b=b: p.inverse_transform(  # noqa: E731
            _uniform(p.transform(np.nan_to_num(X)), lo, hi, 2**b)
        )
        err = mpjpe(train, rec(train))
        if best is None or err < best[0]:
            best = (err, rec, n_comp * b)
    return best[1], best[2]


BASELINES = {
    "per-joint k-means": per_joint_kmeans,
    "whole-pose k-means": whole_pose_kmeans,
    "uniform scalar": scalar,
    "PCA + scalar": pca_scalar,
}


def config_name(config):
    name = f"{config['n_tokens']}x{config['codebook_size']}"
    if config["refinement_stages"]:
        name += f"+{config['refinement_stages']}x{config['refinement_codebook_size']}"
    return name


def refinement_usage(tok, ids):
    """Mean fraction of each keypoint's refinement codes that val poses use, per stage."""
    if not tok.refinement_stages:
        return {}
    K = tok.n_keypoints_
    stages = ids[:, tok.n_tokens :].reshape(len(ids), tok.refinement_stages, K)
    usage = [np.mean([len(np.unique(stages[:, s, k])) for k in range(K)]) / tok.refinement_codebook_size
             for s in range(tok.refinement_stages)]
    return {"refinement_usage": usage}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-epochs", type=int, default=None)
    parser.add_argument("--width", type=int, default=None,
                        help="posetok encoder and decoder width (default: the estimator's default)")
    parser.add_argument("--budgets", type=int, nargs="+", choices=sorted(POSETOK_CONFIGS), default=None)
    parser.add_argument("--configs", type=parse_config, nargs="+", default=None,
                        help="posetok configurations to fit instead of the budgets' (MxV or MxV+SxR); "
                             "implies --skip-baselines")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--seed", type=int, default=0,
                        help="posetok's random_state (the train persons drawn stay those of seed 0)")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n_train = args.n_train or (8000 if args.quick else 40000)
    n_epochs = args.n_epochs or (10 if args.quick else 30)
    budgets = args.budgets or ((64, 128) if args.quick else BUDGETS)
    if args.configs:
        budgets, args.skip_baselines = [None], True
    width = {} if args.width is None else {"encoder_width": args.width, "decoder_width": args.width}

    X_tr, _, _, _ = load("train")
    X_va, _, s_va, area_va = load("val")
    rng = np.random.default_rng(0)
    X_tr_posetok = X_tr[rng.permutation(len(X_tr))[:n_train]]
    complete = X_tr[~np.isnan(X_tr).any(1)]
    known = ~np.isnan(area_va)
    X_va, s_va, area_va = X_va[known], s_va[known], area_va[known]
    print(f"train: {len(X_tr_posetok)} persons for posetok, {len(complete)} complete for baselines; "
          f"val: {len(X_va)} persons with known area", flush=True)

    rows = []
    for bits in budgets:
        configs = args.configs or [parse_config(c) for c in POSETOK_CONFIGS[bits]]
        for name, make in BASELINES.items():
            if args.skip_baselines:
                break
            if name == "whole-pose k-means" and bits > 64:
                continue  # 4096 codes (12 bits) is already its largest point
            tic = time.perf_counter()
            codec, used_bits = make(complete, bits, 0)
            rows.append({"method": name, "budget": bits, "bits": float(used_bits),
                         **scores(X_va, codec(X_va), s_va, area_va), "fit_s": time.perf_counter() - tic})
            print(format_row(rows[-1]), flush=True)
        for config in configs:
            tok = PoseTokenizer(**config, n_epochs=n_epochs, random_state=args.seed, verbose=args.verbose, **width)
            tic = time.perf_counter()
            tok.fit(X_tr_posetok)
            fit_s = time.perf_counter() - tic
            ids = tok.transform(X_va)
            rows.append({"method": f"posetok {config_name(config)}", "budget": bits, "bits": tok.bits_per_pose_,
                         **scores(X_va, tok.inverse_transform(ids), s_va, area_va), "fit_s": fit_s,
                         "codebook_usage": len(np.unique(ids[:, : tok.n_tokens])) / tok.codebook_size,
                         **refinement_usage(tok, ids),
                         "n_train": len(X_tr_posetok), "n_epochs": n_epochs, **tok.get_params()})
            print(format_row(rows[-1]), flush=True)

    print()
    print(f"posetok: {len(X_tr_posetok)} train persons, {n_epochs} epochs, "
          f"{'default architecture' if not width else f'width {args.width}'}")
    print("| method | bits / pose | OKS-AR | MPJPE % | fit (s) |")
    print("|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["bits"], r["method"])):
        print(f"| {r['method']} | {r['bits']:.0f} | {r['oks_ar']:.2f} | {r['mpjpe_pct']:.3f} | {r['fit_s']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
