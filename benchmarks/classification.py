"""Pose tokens against raw coordinates as classifier features, across datasets and training sizes.

    python benchmarks/classification.py [--quick] [--sizes 0.05 0.2 1.0] [--seeds 0 1 2]
        [--levels frame video] [--skip-stick-figures] [--skip-reduced | --reduced-only] [--cs C ...] [--max-iter N]
        [--mask-probabilities P ...] [--tokenizer-params JSON ...] [--recipes-only] [--second-tokenizer]
        [--validation] [--normalization {box,pose}] [--json PATH]

The protocol of issue 14, one run, everything side by side:

- **Penn Action** (official train/test split by video; frames box-normalised,
  invisible joints NaN, exactly as examples/penn_action_classification.py).
  For each training size (a fraction of the training videos, drawn per action
  with the seed) the tokenizer is fitted on the frames of those videos only
  (every 2nd frame, labels unused), so tokens and coordinates see the same data.
- **Penn Action, reduced skeleton**: the same with 10 of the 13 joints (head and
  both wrists dropped), at the middle size (``--reduced-only``: these runs alone,
  without the full skeleton's).
- **Stick figures**: the six pose families of ``make_stick_figures``, frame
  level, 300 and 3 000 training poses, 2 000 test poses.

Every feature set goes to the same classifier: StandardScaler then
``LogisticRegressionCV`` (C from a fixed grid by stratified 3-fold
cross-validation on the training set only; up to 5 000 L-BFGS iterations so that
the fits converge, and fits that still do not are counted in the results). Frame level compares the
coordinates (mean-imputed) with the tokenizer's one-hot ids and its latent
token vectors (``encode="latent"``). Video level compares mean+std pooled
coordinates (the reference of issue 14), coordinates with ``TemporalPool()``
(mean, std, velocity |mean| and std), the latent
vectors with the same pooling, the TF-IDF bag of tokens, and the latent vectors
of a ``MotionTokenizer`` (a tokenizer over windows of 8 consecutive frames,
fitted on every 2nd window of the training videos) with the same pooling, and the per-frame
latent vectors and the motion tokens' side by side.
Each of coordinates, latent vectors and motion tokens is also measured
mirror-symmetric (``posetok.symmetry.MirrorSymmetric``: the mean of the
features of each pose and of its left-right mirror image, so a classifier
cannot tell a left-handed action from a right-handed one), frame and video
level. For the mirror-symmetric video features the pooling is also measured with the
maximum and minimum of each feature over the frames added to its statistics
(``TemporalPool(stats=("mean", "std", "max", "min"))``).
``--mask-probabilities 0 0.3`` adds the recommended rows with a tokenizer trained with
``mask_probability=0.3`` beside the default's, and ``--tokenizer-params '{"token_dim": 64}'``
with a tokenizer of those parameters; ``--recipes-only`` runs only the references
(frame: coordinates; video: mean+std pooled coordinates) and the recommended rows.
``--second-tokenizer`` adds, at video level, the per-frame features of two tokenizers of the same
parameters and different seeds side by side, alone and beside the motion tokens'.
``--normalization pose`` normalises each Penn Action frame by its own joints instead of its person box
(centred on their mean, divided by their mean distance to it), as issue 14's held-out data set was.
``--validation`` tests on a fixed quarter of the training videos instead of the official
test videos, so that a recipe can be chosen without the test split.
``--levels`` runs frame or video level only (the stick figures are
frame level). Frame-level training and test frames are every 8th frame (consecutive
frames are near duplicates); video level uses every frame.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from posetok import PoseTokenizer
from posetok.datasets import STICK_FIGURE_KEYPOINTS, make_stick_figures
from posetok.readers import PENN_JOINTS, load_penn_action
from posetok.symmetry import MirrorSymmetric, flip_pairs_from_names
from posetok.video import BagOfTokens, MotionTokenizer, PerFrame, TemporalPool, split_by_group

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from penn_action_classification import DEFAULT, prepare  # noqa: E402

CS = [0.01, 0.1, 1.0, 10.0]
# up to 5 000 L-BFGS iterations, so that the fits converge: a fit stopped early depends on where the
# regularisation path started it (LogisticRegressionCV warm-starts each C from the last, and the
# final fit from the folds' mean), and at 300 iterations the latent token features at 100 % of Penn
# Action scored up to 0.8 points apart for the same C. Up to commit 8f1412a: 300 iterations, with
# the convergence warnings silenced (`--max-iter 300` runs that protocol again).
MAX_ITER = 5000
FRAME_STEP = 8
VALIDATION_SEED = 12345  # draws the held-out quarter of the training videos for --validation
STICK_FRAME = 64  # make_stick_figures' default frame_size
REDUCED_DROP = (0, 5, 6)  # Penn joints: head, left wrist, right wrist
# video-level rows of every run: the per-frame latent vectors, and those beside the motion tokens'
PER_FRAME_VIDEO = "tokens latent, TemporalPool with max/min, mirror-symmetric"
BOTH_VIDEO = "tokens latent + motion tokens latent, TemporalPool with max/min, mirror-symmetric"
# --second-tokenizer: a second per-frame tokenizer of the same parameters, seeded with the run's seed plus this
SECOND_SEED = 1000
TWO_VIDEO = "tokens latent of two tokenizers, TemporalPool with max/min, mirror-symmetric"
TWO_BOTH_VIDEO = "tokens latent of two tokenizers + motion tokens latent, TemporalPool with max/min, mirror-symmetric"


def classifier(sparse=False):
    return make_pipeline(
        StandardScaler(with_mean=not sparse),
        # scoring="accuracy": C is chosen by accuracy in every scikit-learn version (1.11 changes the default)
        LogisticRegressionCV(Cs=CS, cv=StratifiedKFold(3, shuffle=True, random_state=0), max_iter=MAX_ITER,
                             scoring="accuracy"),
    )


def accuracy(features_tr, y_tr, features_te, y_te, sparse=False):
    """Test accuracy, the chosen C, seconds, and how many of the classifier's L-BFGS fits did not converge."""
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # LogisticRegressionCV's 1.10-1.11 transitions
        model = classifier(sparse).fit(features_tr, y_tr)
    n_unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    chosen_c = float(np.ravel(model[-1].C_)[0])  # one C per class before scikit-learn 1.10's attributes, one after
    return float(model.score(features_te, y_te)), chosen_c, time.perf_counter() - tic, n_unconverged


def record(rows, base, level, features, acc):
    """Append one result of :func:`accuracy` to ``rows`` (with the run's ``base`` fields) and print it."""
    rows.append({**base, "level": level, "features": features, "accuracy": acc[0], "C": acc[1],
                 "unconverged_fits": acc[3]})
    unconverged = f", {acc[3]} fits not converged" if acc[3] else ""
    print(f"  {level:5s} {features:42s} {acc[0]:.4f}  (C={acc[1]:.3g}, {acc[2]:.0f} s{unconverged})", flush=True)


def choose_videos(video, y, train, fraction, seed):
    """A fraction of the training videos of each action (at least 2), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for action in np.unique(y[train]):
        vids = np.unique(video[train & (y == action)])
        chosen += list(rng.choice(vids, max(2, int(round(fraction * len(vids)))), replace=False))
    return np.isin(video, chosen) & train


def normalize_per_pose(X):
    """Each frame centred on its visible joints' mean and divided by their mean distance to it (the
    normalisation of issue 14's held-out action data set; no person box). Frames with fewer than two
    visible joints, or all of them at one point, have no scale: returns every frame (those NaN) and
    the mask of the scaled ones, as :func:`drop_joints` does."""
    kp = X.reshape(len(X), -1, 2)
    visible = ~np.isnan(kp[..., 0])
    ok = visible.sum(1) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of a frame without a joint
        centre = np.nanmean(kp, axis=1, keepdims=True)
        scale = np.nanmean(np.linalg.norm(kp - centre, axis=2), axis=1)
    # a spread of rounding error is no scale either
    ok &= np.isfinite(scale) & (scale > 1e-9 * (1 + np.abs(centre).max(axis=(1, 2))))
    out = np.full_like(kp, np.nan)
    out[ok] = (kp[ok] - centre[ok]) / scale[ok, None, None]
    return out.reshape(len(X), -1), ok


def drop_joints(X, joints):
    kp = X.reshape(len(X), -1, 2)
    keep = [k for k in range(kp.shape[1]) if k not in joints]
    kp = kp[:, keep]
    # a frame whose remaining joints are all hidden has no pose left
    return kp.reshape(len(X), -1), ~np.isnan(kp[..., 0]).all(1)


def tokenizer_variants(mask_probabilities=(0.0,), params=()):
    """The tokenizers of a run, each as a tuple of its (parameter, value) pairs that differ from
    ``PoseTokenizer``'s defaults: one per ``mask_probability``, then one per dict of ``params``,
    without repeats. The first is the tokenizer of every token row of a full run."""
    defaults = PoseTokenizer().get_params()
    named = {k for d in params for k in d}
    unknown = sorted(named - (set(defaults) - {"n_epochs", "random_state", "encode"}))
    if unknown:
        raise ValueError(f"not PoseTokenizer parameters that a variant can set: {unknown} (n_epochs and "
                         "random_state are the run's, encode is the feature set's)")
    variants = []
    for d in [{"mask_probability": p} for p in mask_probabilities] + list(params):
        key = tuple(sorted((k, v) for k, v in d.items() if v != defaults[k]))
        if key not in variants:
            variants.append(key)
    return variants


def describe(key):
    """A variant's parameters as ``name=value`` text (``mask_probability=0.3, token_dim=64``)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in key)


def variant(name, key):
    """A token feature set's row name, naming the tokenizer's parameters that are not the default's."""
    return f"{name}, tokenizer {describe(key)}" if key else name


def tokenizer_fields(key):
    """A variant's fields in a result row: its parameters as one dict, and each also on its own (as the
    masking results files before ``--tokenizer-params`` recorded ``mask_probability``)."""
    return {"tokenizer_params": dict(key), **dict(key)}


def fit_tokenizers(X, n_epochs, seed, variants):
    """One fitted tokenizer per variant of :func:`tokenizer_variants`, each with its fit seconds."""
    fitted = {}
    for key in variants:
        tic = time.perf_counter()
        tok = PoseTokenizer(n_epochs=n_epochs, random_state=seed, **dict(key)).fit(X)
        fitted[key] = tok, time.perf_counter() - tic
    return fitted


def penn_run(X, y, video, train, fraction, seed, n_epochs, rows, tag, joint_names, motion_window=8,
             levels=("frame", "video"), variants=((),), recipes_only=False, second_tokenizer=False):
    """One training size and seed. The first of ``variants`` (:func:`tokenizer_variants`) is the
    tokenizer of every token row; each further one adds the recommended rows with its tokenizer.
    ``recipes_only``: the reference coordinates and the recommended rows only. ``second_tokenizer``:
    at video level, also the per-frame features of two tokenizers of each variant side by side (the second
    seeded ``seed + SECOND_SEED``), alone and beside the motion tokens'."""
    sel = choose_videos(video, y, train, fraction, seed)
    pairs = flip_pairs_from_names(joint_names)
    test = ~train
    n_videos = len(np.unique(video[sel]))
    tokenizers = fit_tokenizers(X[sel][::2], n_epochs, seed, variants)
    tok, fit_s = tokenizers[variants[0]]
    base = {"dataset": tag, "fraction": fraction, "seed": seed, "train_videos": n_videos,
            "tokenizer_fit_s": round(fit_s, 1)}
    fits = ", ".join(f"{t:.0f} s" + (f" (tokenizer {describe(p)})" if p else "") for p, (_, t) in tokenizers.items())
    print(f"[{tag} {fraction:.0%} seed {seed}] {n_videos} training videos, tokenizer fitted in {fits}", flush=True)

    def record_run(level, features, acc, p=None):
        extra = {} if p is None else {**tokenizer_fields(p), "tokenizer_fit_s": round(tokenizers[p][1], 1)}
        record(rows, {**base, **extra}, level, features, acc)

    def recommended(level):
        """The recommended features' rows, one per tokenizer (frame: mirror-symmetric latent vectors;
        video: the same with max/min TemporalPool, the motion tokens' alike, and both side by side)."""
        for p, (t, _) in tokenizers.items():
            latent = FrozenEstimator(t.set_params(encode="latent"))
            if level == "frame":
                sym = MirrorSymmetric(latent, pairs).fit(X[tr])
                record_run("frame", variant("tokens latent, mirror-symmetric", p),
                           accuracy(sym.transform(X[tr]), y[tr], sym.transform(X[te]), y[te]), p)
                continue
            per_frame = variant(PER_FRAME_VIDEO, p)
            video_row(per_frame, MirrorSymmetric(make_pipeline(PerFrame(latent), extremes), pairs), p)
            if motion_window:
                motion = variant(f"{motion_name}, TemporalPool with max/min, mirror-symmetric", p)
                frozen = FrozenEstimator(motion_tokenizer(p))
                video_row(motion, MirrorSymmetric(make_pipeline(frozen, extremes), pairs), p)
                # = MirrorSymmetric(make_union(per-frame pipeline, motion pipeline), pairs) without transforming
                # the videos again: the mean over a pose and its mirror image commutes with stacking
                # (tests/test_symmetry.py)
                union_row(variant(BOTH_VIDEO, p), (per_frame, motion), p)
            if second_tokenizer:
                second, second_s = fit_tokenizers(X[sel][::2], n_epochs, seed + SECOND_SEED, [p])[p]
                print(f"  second tokenizer (seed {seed + SECOND_SEED}{', ' + describe(p) if p else ''}) fitted in "
                      f"{second_s:.0f} s", flush=True)
                # the second tokenizer's own features are not a row: computed and stacked only
                second_name = variant(f"{PER_FRAME_VIDEO}, seed + {SECOND_SEED}", p)
                pipe = MirrorSymmetric(make_pipeline(PerFrame(FrozenEstimator(second.set_params(encode="latent"))),
                                                     extremes), pairs)
                computed[second_name] = pipe.fit_transform(videos_tr), pipe.transform(videos_te)
                union_row(variant(TWO_VIDEO, p), (per_frame, second_name), p)
                if motion_window:
                    union_row(variant(TWO_BOTH_VIDEO, p), (per_frame, second_name, motion), p)

    if "frame" in levels:
        tr, te = np.flatnonzero(sel)[::FRAME_STEP], np.flatnonzero(test)[::FRAME_STEP]
        imputer = SimpleImputer().fit(X[tr])
        record_run("frame", "coordinates",
                   accuracy(imputer.transform(X[tr]), y[tr], imputer.transform(X[te]), y[te]))
        if not recipes_only:
            onehot = tok.set_params(encode="onehot")
            record_run("frame", "tokens one-hot",
                       accuracy(onehot.transform(X[tr]), y[tr], onehot.transform(X[te]), y[te], sparse=True))
            latent = tok.set_params(encode="latent")
            record_run("frame", "tokens latent",
                       accuracy(latent.transform(X[tr]), y[tr], latent.transform(X[te]), y[te]))
            sym = MirrorSymmetric(FrozenEstimator(imputer), pairs).fit(X[tr])
            record_run("frame", "coordinates, mirror-symmetric",
                       accuracy(sym.transform(X[tr]), y[tr], sym.transform(X[te]), y[te]))
        recommended("frame")
    if "video" not in levels:
        return

    videos_tr, _, yv_tr = split_by_group(X[sel], video[sel], y[sel])
    videos_te, _, yv_te = split_by_group(X[test], video[test], y[test])

    computed = {}  # row name -> (training, test) features, for the rows that stack them

    def video_row(features, transformer, p=None, sparse=False):
        """Fit ``transformer`` on the training videos, score the classifier on its features."""
        computed[features] = f_tr, f_te = transformer.fit_transform(videos_tr), transformer.transform(videos_te)
        record_run("video", features, accuracy(f_tr, yv_tr, f_te, yv_te, sparse=sparse), p)

    def union_row(features, parts, p=None):
        """The features of the rows ``parts``, side by side (what ``make_union`` of their transformers gives)."""
        both = [np.hstack([computed[part][i] for part in parts]) for i in (0, 1)]
        record_run("video", features, accuracy(both[0], yv_tr, both[1], yv_te), p)

    motions, motion_name = {}, f"motion tokens ({motion_window} frames) latent"

    def motion_tokenizer(p):
        """The motion tokenizer of tokenizer variant ``p`` (the same parameters over windows), fitted once."""
        if p not in motions:
            tic = time.perf_counter()
            motions[p] = MotionTokenizer(PoseTokenizer(n_epochs=n_epochs, random_state=seed, encode="latent",
                                                       **dict(p)),
                                         window=motion_window, fit_stride=2).fit(videos_tr)
            print(f"  motion tokenizer ({motion_window} frames{', ' + describe(p) if p else ''}) fitted in "
                  f"{time.perf_counter() - tic:.0f} s", flush=True)
        return motions[p]

    pool, extremes = TemporalPool(), TemporalPool(stats=("mean", "std", "max", "min"))  # the latter recommended
    video_row("coordinates mean+std", TemporalPool(stats=("mean", "std"), velocity_stats=()))
    if recipes_only:
        recommended("video")
        return
    video_row("coordinates, TemporalPool", pool)
    video_row("coordinates, TemporalPool, mirror-symmetric", MirrorSymmetric(pool, pairs))
    video_row("coordinates, TemporalPool with max/min, mirror-symmetric", MirrorSymmetric(extremes, pairs))
    latent = PerFrame(FrozenEstimator(tok.set_params(encode="latent")))
    video_row("tokens latent, TemporalPool", make_pipeline(latent, pool))
    video_row("tokens latent, TemporalPool, mirror-symmetric", MirrorSymmetric(make_pipeline(latent, pool), pairs))
    if motion_window:
        frozen = FrozenEstimator(motion_tokenizer(variants[0]))
        video_row(f"{motion_name}, TemporalPool", make_pipeline(frozen, pool))
        video_row(f"{motion_name}, TemporalPool, mirror-symmetric", MirrorSymmetric(make_pipeline(frozen, pool), pairs))
    recommended("video")
    # the frozen `latent` wraps the same tokenizer: its rows are done before the encoding changes
    ids = PerFrame(FrozenEstimator(tok.set_params(encode="ordinal")))
    video_row("bag of tokens, tf-idf", make_pipeline(ids, BagOfTokens(tok.codebook_size, tfidf=True)), sparse=True)


def stick_run(n_train, seed, n_epochs, rows, variants=((),), recipes_only=False):
    X, y = make_stick_figures(n_train, frame_size=STICK_FRAME, random_state=seed)
    X_te, y_te = make_stick_figures(2000, frame_size=STICK_FRAME, random_state=1000 + seed)
    tokenizers = fit_tokenizers(X, n_epochs, seed, variants)
    tok = tokenizers[variants[0]][0]
    base = {"dataset": "stick figures", "n_train": n_train, "seed": seed}
    print(f"[stick figures {n_train} seed {seed}]", flush=True)
    pairs = flip_pairs_from_names(STICK_FIGURE_KEYPOINTS)
    runs = [("coordinates", None, tok, None)]
    if not recipes_only:
        runs += [("tokens one-hot", "onehot", tok, None), ("tokens latent", "latent", tok, None),
                 ("coordinates, mirror-symmetric", None, tok, None)]
    runs += [(variant("tokens latent, mirror-symmetric", p), "latent", t, p) for p, (t, _) in tokenizers.items()]
    for name, encoding, t, p in runs:
        features = FunctionTransformer() if encoding is None else FrozenEstimator(t.set_params(encode=encoding))
        if "mirror-symmetric" in name:  # the figures' frame flipped left-right, as an image would be
            features = MirrorSymmetric(features, pairs, centre=(STICK_FRAME - 1) / 2)
        features.fit(X, y)
        acc = accuracy(features.transform(X), y, features.transform(X_te), y_te, sparse=encoding == "onehot")
        record(rows, base if p is None else {**base, **tokenizer_fields(p)}, "frame", name, acc)


def environment():
    """What a row's figures may depend on beyond the code: package versions, the CPU and its kernels.

    Reruns of one commit on one machine give the same figures bit for bit; reruns in other sessions'
    environments have differed by a test video or two (docs/benchmarks.md).
    """
    env = {name: importlib.metadata.version(name) for name in ("numpy", "scipy", "scikit-learn", "torch", "joblib")}
    env["python"] = platform.python_version()
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
              if line.startswith("model name")]
    env["cpu"] = models[0] if models else platform.processor() or platform.machine()
    env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    env["blas"] = [f"{lib['internal_api']} {lib['version']} {lib.get('architecture') or ''}".strip()
                   for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    return env


def summary(rows):
    """Mean and range over seeds of each (dataset, size, level, features)."""
    groups = {}
    for r in rows:
        size = r.get("fraction", r.get("n_train"))
        groups.setdefault((r["dataset"], size, r["level"], r["features"]), []).append(r["accuracy"])
    print()
    print("| dataset | training size | level | features | accuracy, mean over seeds | min-max | seeds |")
    print("|---|---|---|---|---|---|---|")
    for (dataset, size, level, features), accs in groups.items():
        size_s = f"{size:.0%} of videos" if isinstance(size, float) else f"{size} poses"
        print(f"| {dataset} | {size_s} | {level} | {features} | {np.mean(accs):.1%} | "
              f"{min(accs):.1%}-{max(accs):.1%} | {len(accs)} |")


def main():
    global CS, MAX_ITER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--quick", action="store_true",
                        help="5 %% of the videos, one seed, 3 epochs, no reduced skeleton")
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.05, 0.2, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-epochs", type=int, default=20)
    parser.add_argument("--levels", nargs="+", choices=["frame", "video"], default=["frame", "video"],
                        help="Penn Action levels to run (the stick figures are frame level only)")
    parser.add_argument("--skip-stick-figures", action="store_true")
    reduced = parser.add_mutually_exclusive_group()
    reduced.add_argument("--skip-reduced", action="store_true", help="skip the 10-joint Penn Action skeleton")
    reduced.add_argument("--reduced-only", action="store_true",
                         help="run Penn Action only with the 10-joint skeleton (at the middle of --sizes)")
    parser.add_argument("--cs", type=float, nargs="+", default=CS,
                        help="the classifier's grid of C (default: 0.01 0.1 1 10)")
    parser.add_argument("--max-iter", type=int, default=MAX_ITER, help="the classifier's L-BFGS iterations")
    parser.add_argument("--mask-probabilities", type=float, nargs="+", default=[0.0],
                        help="the tokenizer's mask_probability: the first for every token row, each further one "
                             "adds the recommended rows with a tokenizer of that masking (default: 0, the default's)")
    parser.add_argument("--tokenizer-params", type=json.loads, nargs="+", default=[], metavar="JSON",
                        help='further tokenizers, each a JSON dict of PoseTokenizer parameters (e.g. \'{"token_dim": '
                             '64}\'): each adds the recommended rows with a tokenizer of those parameters')
    parser.add_argument("--recipes-only", action="store_true",
                        help="only the reference coordinates and the recommended features (frame: coordinates; video: "
                             "mean+std pooled coordinates), for each tokenizer")
    parser.add_argument("--second-tokenizer", action="store_true",
                        help="video level: also the per-frame features of two tokenizers (seeds s and s + "
                             f"{SECOND_SEED}) side by side, alone and beside the motion tokens'")
    parser.add_argument("--validation", action="store_true",
                        help="test on a quarter of the training videos instead of the official test videos "
                             "(to choose a recipe without them); sizes are fractions of the other three quarters")
    parser.add_argument("--normalization", choices=["box", "pose"], default="box",
                        help="Penn Action frames: box-normalised (default, as the example) or each centred on its "
                             "visible joints' mean and divided by their mean distance to it (no box)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick and args.reduced_only:
        parser.error("--quick runs no 10-joint skeleton; leave out --reduced-only")
    CS, MAX_ITER = list(args.cs), args.max_iter
    sizes, seeds, n_epochs = ([0.05], [0], 3) if args.quick else (args.sizes, args.seeds, args.n_epochs)
    if not all(isinstance(d, dict) for d in args.tokenizer_params):
        parser.error("each --tokenizer-params must be a JSON dict, e.g. '{\"token_dim\": 64}'")
    try:
        variants = tokenizer_variants(args.mask_probabilities, args.tokenizer_params)
    except ValueError as error:
        parser.error(str(error))
    if variants[0] and not args.recipes_only:
        # the full run's rows (and its motion tokenizer) are the default tokenizer's, named without parameters
        parser.error("without --recipes-only the first of --mask-probabilities must be 0 (the default tokenizer)")
    rows = []
    if not args.skip_stick_figures and "frame" in args.levels:
        for n_train in ([300] if args.quick else [300, 3000]):
            for seed in seeds:
                stick_run(n_train, seed, n_epochs, rows, variants, args.recipes_only)
    if args.data.exists():
        X, y, video, train = prepare(load_penn_action(args.data))
        suffix = ", per-pose normalised" if args.normalization == "pose" else ""
        if args.normalization == "pose":
            # box normalisation is a shift and one scale per frame, so this is the same as from pixels
            X, ok = normalize_per_pose(X)
            X, y, video, train = X[ok], y[ok], video[ok], train[ok]
            print(f"per-pose normalisation: {int((~ok).sum())} frames with fewer than two distinct visible "
                  "joints left out", flush=True)
        if args.validation:
            # a quarter of each action's training videos (fixed draw) becomes the test set; the official
            # test videos are left out, so a recipe can be chosen without looking at them
            held = choose_videos(video, y, train, 0.25, VALIDATION_SEED)
            X, y, video, train = X[train], y[train], video[train], ~held[train]
            print(f"validation: {len(np.unique(video[~train]))} of the {len(np.unique(video))} training videos "
                  "held out as the test set; the official test videos unused", flush=True)
        for fraction in ([] if args.reduced_only else sizes):
            for seed in seeds:
                penn_run(X, y, video, train, fraction, seed, n_epochs, rows, "Penn Action" + suffix, PENN_JOINTS,
                         levels=args.levels, variants=variants, recipes_only=args.recipes_only,
                         second_tokenizer=args.second_tokenizer)
        if not (args.quick or args.skip_reduced):
            Xr, ok = drop_joints(X, REDUCED_DROP)
            if args.normalization == "pose":  # normalised again by the joints that are left
                Xr, scaled = normalize_per_pose(Xr)
                ok &= scaled
            kept = [name for j, name in enumerate(PENN_JOINTS) if j not in REDUCED_DROP]
            middle = sorted(sizes)[len(sizes) // 2]
            for seed in seeds:
                penn_run(Xr[ok], y[ok], video[ok], train[ok], middle, seed, n_epochs, rows,
                         "Penn Action, 10 joints" + suffix, kept, levels=args.levels, variants=variants,
                         recipes_only=args.recipes_only, second_tokenizer=args.second_tokenizer)
    else:
        print(f"{args.data} not found: Penn Action skipped (see the script's docstring for the data)")
    summary(rows)
    if args.json:
        env = environment()
        args.json.write_text(json.dumps([{**row, "environment": env} for row in rows], indent=1))


if __name__ == "__main__":
    main()
