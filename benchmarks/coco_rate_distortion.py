"""Reconstruction per bit on COCO val: posetok against classic quantizers.

Run from the repository root (needs ../shared/data, see docs/benchmarks.md):

    python benchmarks/coco_rate_distortion.py           # 40 000 train persons, all budgets
    python benchmarks/coco_rate_distortion.py --quick   # 8 000 persons, 2 budgets, a few minutes
    python benchmarks/coco_rate_distortion.py --configs 2x256+2x128   # only these posetok configurations
    python benchmarks/coco_rate_distortion.py --configs 8x256 --codebooks shared per_token   # both codebook kinds

A posetok configuration is written ``MxV`` (M tokens of V codes) or ``MxV+SxR`` (then S
refinement stages of R codes per keypoint): ``4x256+2x128`` is
``PoseTokenizer(4, codebook_size=256, refinement_stages=2, refinement_codebook_size=128)``,
4 * 8 + 2 * 17 * 7 = 270 bits per pose.

Every method sees the same box-normalised poses (shared/reference/coco-baselines.md):
centre = box centre, scale = 1.25 * max(w, h / 0.75), and every method is fitted on the same
train persons (``--n-train`` drawn at random, or ``--complete-train``): posetok on all of them
(unlabelled joints are NaN and left out of its loss), a per-joint baseline on every labelled
instance of its joint among them (full KMeans on at most 60 000), a whole-pose baseline (k-means,
PCA) on the complete persons among them. Evaluation: the 3153 val persons whose segment area is
known, labelled joints only, and the complete ones among them; beside the fixed-length bits, the
entropy of each method's ids (what an ideal entropy coder with per-column code frequencies from
train would spend).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from report import format_row, token_usage  # the scripts run from this folder
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from posetok import PoseTokenizer
from posetok.datasets import normalize_to_box, visibility_to_nan
from posetok.metrics import mpjpe, object_keypoint_similarity, oks_ar

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BUDGETS = (32, 48, 64, 96, 128, 160, 192, 256, 374)
# posetok's configurations at each budget: tokens alone, and from 128 bits also a few tokens
# plus residual refinement stages (never more bits than the budget's scalar-quantization point).
POSETOK_CONFIGS = {
    32: ("4x256",),
    48: ("6x256",),
    64: ("8x256",),
    96: ("12x256",),
    128: ("16x256", "2x256+1x64"),
    136: ("17x256", "2x256+1x128"),
    160: ("20x256", "2x256+1x256"),
    192: ("24x256", "4x256+1x512"),
    256: ("32x256", "2x256+2x128"),
    374: ("34x2048", "4x256+2x1024", "2x256+3x128"),
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
    """OKS-AR and MPJPE % on all val persons, and (``_complete``) on those with all 17 joints labelled."""
    px = lambda X: X.reshape(len(X), -1, 2) * scale[:, None, None]  # noqa: E731
    oks = object_keypoint_similarity(px(X_true), px(X_hat), area)
    complete = ~np.isnan(X_true).any(1)
    return {"oks_ar": oks_ar(oks), "mpjpe_pct": 100 * mpjpe(X_true, X_hat) / 1.25,
            "oks_ar_complete": oks_ar(oks[complete]),
            "mpjpe_pct_complete": 100 * mpjpe(X_true[complete], X_hat[complete]) / 1.25}


# ---------------------------------------------------------------- baselines
# Each baseline is fitted on the same train persons as posetok: a per-joint quantizer on every
# labelled instance of its joint among them (up to MAX_INSTANCES, a random subset beyond, as for
# posetok's refinement codebooks), a whole-pose one on the complete persons among them. Each
# returns (encode: X -> integer ids (n, C), decode: ids -> X, bits per pose, codes per id column),
# so that the entropy of its ids can be reported beside the fixed-length bits, as for posetok.
MAX_INSTANCES = 60_000
N_JOINTS = 17


def _joint_instances(train, j, rng):
    """The labelled instances (n_j, 2) of joint j among the train persons, at most MAX_INSTANCES."""
    points = train[:, 2 * j : 2 * j + 2]
    points = points[~np.isnan(points).any(1)]
    return points[rng.permutation(len(points))[:MAX_INSTANCES]] if len(points) > MAX_INSTANCES else points


def _kmeans(points, k, seed):
    return KMeans(k, n_init=1, max_iter=100, random_state=seed).fit(points).cluster_centers_


def _nearest(points, codes):
    return ((points[:, None, :] - codes[None]) ** 2).sum(-1).argmin(1)


def residual_kmeans(train, bits, seed, n_stages=1):
    """Per-joint k-means with ``n_stages`` residual stages of k codes: 17 * n_stages * log2(k) bits.

    One stage is plain per-joint k-means; each later stage quantizes what the previous ones left.
    """
    k = int(min(2 ** (bits / (N_JOINTS * n_stages)), 4096))
    if k < 2:
        return None
    rng = np.random.default_rng(seed)
    codebooks = []  # [joint][stage] -> (k, 2)
    for j in range(N_JOINTS):
        points, stages = _joint_instances(train, j, rng), []
        for stage in range(n_stages):
            codes = _kmeans(points, k, seed + stage)
            stages.append(codes)
            points = points - codes[_nearest(points, codes)]
        codebooks.append(stages)

    def encode(X):
        X = np.nan_to_num(X)
        ids = np.zeros((len(X), N_JOINTS * n_stages), dtype=np.int64)
        for j, stages in enumerate(codebooks):
            left = X[:, 2 * j : 2 * j + 2]
            for stage, codes in enumerate(stages):
                ids[:, stage * N_JOINTS + j] = idx = _nearest(left, codes)
                left = left - codes[idx]
        return ids

    def decode(ids):
        return np.hstack([sum(codes[ids[:, stage * N_JOINTS + j]] for stage, codes in enumerate(stages))
                          for j, stages in enumerate(codebooks)])

    return encode, decode, N_JOINTS * n_stages * np.log2(k), [k] * (N_JOINTS * n_stages)


def _observed_nearest(X, centres):
    """Index of the nearest centre to each pose over its labelled coordinates only."""
    observed = ~np.isnan(X)
    Xz = np.where(observed, X, 0.0)
    # ||x_o - c_o||^2 = sum_o x^2 - 2 x.c + sum_o c^2, in chunks to bound memory
    return np.concatenate([
        ((Xz[i : i + 512] ** 2).sum(1)[:, None] - 2 * Xz[i : i + 512] @ centres.T
         + observed[i : i + 512].astype(float) @ (centres**2).T).argmin(1)
        for i in range(0, len(X), 512)])


def whole_pose_kmeans(train, bits, seed):
    """k-means on the complete train persons; a pose takes the centre nearest its labelled joints."""
    complete = train[~np.isnan(train).any(1)]
    k = int(min(2**bits, 4096, len(complete)))
    m = KMeans(k, n_init=1, random_state=seed).fit(complete)
    encode = lambda X: _observed_nearest(X, m.cluster_centers_)[:, None]  # noqa: E731
    return encode, (lambda ids: m.cluster_centers_[ids[:, 0]]), np.log2(k), [k]


def _pca_codes(pca, X):
    """PCA coefficients of poses; for a pose with unlabelled joints, their expected value given its
    labelled coordinates under the PCA's Gaussian model (not the projection of zeros)."""
    Z = np.empty((len(X), pca.n_components_))
    observed = ~np.isnan(X)
    full = observed.all(1)
    Z[full] = pca.transform(X[full])
    variances = pca.explained_variance_
    noise = max(float(pca.noise_variance_), 1e-6 * float(variances.mean()))
    for mask in np.unique(observed[~full], axis=0):
        rows = np.flatnonzero((observed == mask).all(1) & ~full)
        W = pca.components_[:, mask]  # (n_components, n_observed)
        gain = (variances[:, None] * W) @ np.linalg.inv(W.T @ (variances[:, None] * W) + noise * np.eye(mask.sum()))
        Z[rows] = (X[rows][:, mask] - pca.mean_[mask]) @ gain.T
    return Z


def _uniform_ids(values, lo, hi, levels):
    return np.clip(np.floor((values - lo) / ((hi - lo) / levels)), 0, levels - 1).astype(np.int64)


def _uniform_values(ids, lo, hi, levels):
    return lo + (ids + 0.5) * (hi - lo) / levels


def scalar(train, bits, seed):
    """Every coordinate uniformly quantized in [-0.5, 0.5] (no fit)."""
    b = max(1, round(bits / 34))
    return (lambda X: _uniform_ids(np.nan_to_num(X), -0.5, 0.5, 2**b)), \
        (lambda ids: _uniform_values(ids, -0.5, 0.5, 2**b)), 34 * b, [2**b] * 34


def pca_scalar(train, bits, seed):
    """PCA on the complete train persons, then uniform quantization of each component over its
    0.5-99.5 percentile range (clipped beyond); the number of components is chosen on train. A
    pose with unlabelled joints is coded by the least-squares fit of its labelled coordinates."""
    complete = train[~np.isnan(train).any(1)]
    best = None
    for n_comp in (2, 4, 6, 8, 12, 16, 24, 34):
        b = bits // n_comp
        if b < 1 or b > 16:
            continue
        pca = PCA(n_comp, random_state=seed).fit(complete)
        Z = pca.transform(complete)
        lo, hi = np.percentile(Z, 0.5, axis=0), np.percentile(Z, 99.5, axis=0)
        enc = lambda X, p=pca, lo=lo, hi=hi, b=b: _uniform_ids(_pca_codes(p, X), lo, hi, 2**b)  # noqa: E731
        dec = lambda ids, p=pca, lo=lo, hi=hi, b=b: p.inverse_transform(_uniform_values(ids, lo, hi, 2**b))  # noqa: E731
        err = mpjpe(complete, dec(enc(complete)))
        if best is None or err < best[0]:
            best = (err, enc, dec, n_comp * b, [2**b] * n_comp)
    return best[1:]


BASELINES = {
    "per-joint k-means": residual_kmeans,
    "per-joint residual k-means, 2 stages": lambda train, bits, seed: residual_kmeans(train, bits, seed, 2),
    "per-joint residual k-means, 3 stages": lambda train, bits, seed: residual_kmeans(train, bits, seed, 3),
    "whole-pose k-means": whole_pose_kmeans,
    "uniform scalar": scalar,
    "PCA + scalar": pca_scalar,
}


def entropy_bits(train_ids, ids, sizes):
    """Bits per pose an ideal entropy coder with per-column code frequencies from the train ids
    (add-one smoothed) would spend on ``ids``: the sum over columns of the mean -log2 p(id)."""
    total = 0.0
    for c, size in enumerate(sizes):
        p = (np.bincount(train_ids[:, c], minlength=size) + 1.0) / (len(train_ids) + size)
        total += float(-np.log2(p[ids[:, c]]).mean())
    return total


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
    parser.add_argument("--n-train", type=int, default=None,
                        help="train persons drawn at random (default 40 000, quick 8 000; 0: all 149 813)")
    parser.add_argument("--complete-train", action="store_true",
                        help="train everything on the 8 475 train persons with all 17 joints labelled")
    parser.add_argument("--n-epochs", type=int, default=None)
    parser.add_argument("--width", type=int, default=None,
                        help="posetok encoder and decoder width (default: the estimator's default)")
    parser.add_argument("--budgets", type=int, nargs="+", choices=sorted(POSETOK_CONFIGS), default=None)
    parser.add_argument("--configs", type=parse_config, nargs="+", default=None,
                        help="posetok configurations to fit instead of the budgets' (MxV or MxV+SxR); "
                             "implies --skip-baselines")
    parser.add_argument("--codebooks", nargs="+", choices=("shared", "per_token"), default=["shared"],
                        help="posetok's codebooks; with both, every configuration is fitted with each")
    parser.add_argument("--mask-probability", type=float, default=0.0,
                        help="posetok's mask_probability (masked training; default 0, the estimator's default)")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-posetok", action="store_true")
    parser.add_argument("--seed", type=int, default=0,
                        help="posetok's random_state (the train persons drawn stay those of seed 0)")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n_train = args.n_train if args.n_train is not None else (8000 if args.quick else 40000)
    n_epochs = args.n_epochs or (10 if args.quick else 30)
    budgets = args.budgets or ((64, 128) if args.quick else BUDGETS)
    if args.configs:
        budgets, args.skip_baselines = [None], True
    width = {} if args.width is None else {"encoder_width": args.width, "decoder_width": args.width}

    X_tr, _, _, _ = load("train")
    X_va, _, s_va, area_va = load("val")
    if args.complete_train:
        X_train = X_tr[~np.isnan(X_tr).any(1)]
    else:
        rng = np.random.default_rng(0)
        X_train = X_tr[rng.permutation(len(X_tr))[: n_train or len(X_tr)]]
    known = ~np.isnan(area_va)
    X_va, s_va, area_va = X_va[known], s_va[known], area_va[known]
    n_complete_val = int((~np.isnan(X_va).any(1)).sum())
    print(f"train: {len(X_train)} persons for posetok and every baseline alike "
          f"({int((~np.isnan(X_train).any(1)).sum())} of them complete); val: {len(X_va)} persons with known "
          f"area ({n_complete_val} complete)", flush=True)
    train_sample = X_train[:20000]  # code frequencies for the entropy estimates

    rows = []
    for bits in budgets:
        configs = [] if args.skip_posetok else (args.configs or [parse_config(c) for c in POSETOK_CONFIGS[bits]])
        for name, make in BASELINES.items():
            if args.skip_baselines:
                break
            if name == "whole-pose k-means" and bits > 64:
                continue  # 4096 codes (12 bits) is already its largest point
            tic = time.perf_counter()
            made = make(X_train, bits, 0)
            if made is None:  # fewer than 2 codes per stage at this budget
                continue
            encode, decode, used_bits, sizes = made
            ids = encode(X_va)
            rows.append({"method": name, "budget": bits, "bits": float(used_bits),
                         "entropy_bits": entropy_bits(encode(train_sample), ids, sizes),
                         **scores(X_va, decode(ids), s_va, area_va), "fit_s": time.perf_counter() - tic,
                         "n_train": len(X_train)})
            print(format_row(rows[-1]), flush=True)
        for config, codebooks in ((c, b) for c in configs for b in args.codebooks):
            tok = PoseTokenizer(**config, codebooks=codebooks, n_epochs=n_epochs, random_state=args.seed,
                                verbose=args.verbose, mask_probability=args.mask_probability, **width)
            tic = time.perf_counter()
            tok.fit(X_train)
            fit_s = time.perf_counter() - tic
            ids = tok.transform(X_va)
            sizes = [tok.codebook_size] * tok.n_tokens + \
                [tok.refinement_codebook_size] * (tok.refinement_stages * tok.n_keypoints_)
            name = f"posetok {config_name(config)}{', per-token codebooks' if codebooks == 'per_token' else ''}"
            rows.append({"method": name, "budget": bits, "bits": tok.bits_per_pose_,
                         "entropy_bits": entropy_bits(tok.transform(train_sample), ids, sizes),
                         **scores(X_va, tok.inverse_transform(ids), s_va, area_va), "fit_s": fit_s,
                         "codebook_usage": token_usage(tok, ids),
                         **refinement_usage(tok, ids),
                         "n_train": len(X_train), "n_epochs": n_epochs, **tok.get_params()})
            print(format_row(rows[-1]), flush=True)

    print()
    print(f"{len(X_train)} train persons{' (complete ones)' if args.complete_train else ''} for every method; "
          f"posetok {n_epochs} epochs, {'default architecture' if not width else f'width {args.width}'}; "
          f"val: all {len(X_va)} persons / the {n_complete_val} complete ones")
    print("| method | bits / pose | entropy (bits) | OKS-AR | MPJPE % | OKS-AR, complete | MPJPE %, complete "
          "| fit (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["bits"], r["method"])):
        print(f"| {r['method']} | {r['bits']:.0f} | {r['entropy_bits']:.0f} | {r['oks_ar']:.2f} | "
              f"{r['mpjpe_pct']:.3f} | {r['oks_ar_complete']:.2f} | {r['mpjpe_pct_complete']:.3f} | {r['fit_s']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
