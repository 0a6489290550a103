"""Action classification on Penn Action with pose tokens, frame- and video-level.

    python examples/penn_action_classification.py [--data PATH] [--quick] [--per-frame-only] [--figure PNG]

PATH is Penn Action's ``labels`` folder (NNNN.mat files, from the University of
Pennsylvania's Penn Action page) or the compact ``penn_action_2d.npz``; by default
``../shared/data/penn_action_2d.npz`` beside this repository. Nothing is downloaded.

Penn's official train/test split by video. Each frame is normalised by its person box
(posetok.datasets.normalize_to_box) and invisible joints are NaN. The two recommended
recipes (docs/benchmarks.md measures them across datasets and training sizes:
benchmarks/classification.py) make the features mirror-symmetric
(``posetok.symmetry.MirrorSymmetric``: the mean of the features of each pose and
of its left-right mirror image), so a left-handed tennis serve looks like a
right-handed one:

- Frame level: ``MirrorSymmetric(PoseTokenizer(encode="latent"), flip_pairs)`` ->
  StandardScaler -> LogisticRegressionCV, against the normalised coordinates
  (mean-imputed) -> the same classifier.
- Video level: the latent vectors of every frame from two tokenizers that differ only in their
  seed, and those of motion tokens (a ``MotionTokenizer``: a PoseTokenizer over windows of 8
  consecutive frames), side by side,
  ``MirrorSymmetric(make_union(make_pipeline(PerFrame(PoseTokenizer(encode="latent", random_state=0)), pool),
  make_pipeline(PerFrame(PoseTokenizer(encode="latent", random_state=1000)), pool),
  make_pipeline(MotionTokenizer(), pool)), flip_pairs)`` with ``pool =
  TemporalPool(stats=("mean", "std", "max", "min"))`` (mean, std, maximum and minimum of each
  feature over the frames, and velocity statistics) -> StandardScaler ->
  LogisticRegressionCV, against mean+std pooled coordinates -> the same classifier.

``flip_pairs`` (left joint, right joint) come from the joint names
(``flip_pairs_from_names``). The motion tokenizer costs several times the per-frame one to
fit; ``--per-frame-only`` runs the cheaper features of one per-frame tokenizer alone in its place
(docs/benchmarks.md).

The classifier's C is chosen by cross-validation on the training set only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from posetok import PoseTokenizer
from posetok.datasets import normalize_to_box, visibility_to_nan
from posetok.readers import load_penn_action
from posetok.symmetry import MirrorSymmetric, flip_pairs_from_names
from posetok.video import MotionTokenizer, PerFrame, TemporalPool, split_by_group

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "penn_action_2d.npz"


def prepare(data):
    x1y1, x2y2 = data.bbox[:, :2], data.bbox[:, 2:]
    # frames with a usable box (two videos lack one row; a few boxes are empty) and a visible joint
    ok = np.isfinite(data.bbox).all(1) & ((x2y2 - x1y1) > 0).any(1) & (data.visibility.sum(1) > 0)
    xywh = np.hstack([x1y1, x2y2 - x1y1])[ok]
    X, _, _ = normalize_to_box(data.keypoints[ok], xywh)
    X = visibility_to_nan(X, data.visibility[ok], min_visibility=1)
    return X, data.action[ok], data.video_id[ok], data.is_train[ok]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--quick", action="store_true", help="fewer frames and epochs")
    parser.add_argument("--figure", type=Path, default=None, help="write a confusion-matrix PNG here")
    parser.add_argument("--per-frame-only", action="store_true",
                        help="video level: one per-frame tokenizer's features alone (faster)")
    parser.add_argument("--n-tokens", type=int, default=32)
    parser.add_argument("--codebook-size", type=int, default=256)
    args = parser.parse_args()
    data = load_penn_action(args.data)
    X, y, video, train = prepare(data)
    # tokenizer: every `step`-th training frame; frame level: every `frame_step`-th frame
    step, n_epochs, frame_step = (8, 5, 32) if args.quick else (3, 30, 8)
    print(f"{len(X)} frames of {len(np.unique(video))} videos; {len(data.action_names)} actions", flush=True)

    def tokenizer(seed):
        """The latent tokenizer of every token feature set here; they differ only in their seed."""
        return PoseTokenizer(args.n_tokens, codebook_size=args.codebook_size, n_epochs=n_epochs, encode="latent",
                             random_state=seed)

    tic = time.perf_counter()
    # the tokenizer learns from training poses without their labels; fitted once, then frozen
    tok = tokenizer(0).fit(X[train][::step])
    print(f"tokenizer fitted on {len(X[train][::step])} frames in {time.perf_counter() - tic:.0f} s", flush=True)
    frozen = FrozenEstimator(tok)
    pairs = flip_pairs_from_names(data.joint_names)  # (left_shoulder, right_shoulder), ...
    # enough L-BFGS iterations to converge: a fit stopped early depends on where the C path started it
    # C chosen by accuracy (scikit-learn 1.11 changes the default scoring); from scikit-learn 1.9 on,
    # l1_ratios=(0,) (the L2 penalty) and use_legacy_attributes=False only silence its transition warnings
    new_api = {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    new_api = new_api if "use_legacy_attributes" in LogisticRegressionCV().get_params() else {}
    clf = lambda: LogisticRegressionCV(Cs=[0.01, 0.1, 1.0, 10.0], cv=3, max_iter=5000,  # noqa: E731
                                       scoring="accuracy", **new_api)
    results = {}

    # frame level: a subsample of frames for both training and test (neighbouring frames are near duplicates)
    tr, te = np.flatnonzero(train)[::frame_step], np.flatnonzero(~train)[::frame_step]
    for name, pipe in {
        "tokens, latent vectors, mirror-symmetric": make_pipeline(MirrorSymmetric(frozen, pairs), StandardScaler(),
                                                                  clf()),
        "normalised coordinates": make_pipeline(SimpleImputer(), StandardScaler(), clf()),
    }.items():
        pipe.fit(X[tr], y[tr])
        results[("frame", name)] = accuracy_score(y[te], pipe.predict(X[te]))
        print(f"frame level, {name}: {results[('frame', name)]:.3f}", flush=True)

    # video level: every frame of every video
    videos_tr, _, y_tr = split_by_group(X[train], video[train], y[train])
    videos_te, _, y_te = split_by_group(X[~train], video[~train], y[~train])
    predictions = {}
    pool = lambda: TemporalPool(stats=("mean", "std", "max", "min"))  # noqa: E731
    per_frame = make_pipeline(PerFrame(frozen), pool())
    if args.per_frame_only:
        name, features = "tokens, latent vectors pooled, mirror-symmetric", per_frame
    else:
        # a second per-frame tokenizer, differing only in its seed, learns other codes for the same poses
        second = tokenizer(1000).fit(X[train][::step])
        # the motion tokenizer learns from the training videos' windows inside the pipeline (labels unused)
        motion = MotionTokenizer(tokenizer(0), window=8, fit_stride=2 * step)
        name = "tokens of two tokenizers and motion tokens, latent vectors pooled, mirror-symmetric"
        features = make_union(per_frame, make_pipeline(PerFrame(FrozenEstimator(second)), pool()),
                              make_pipeline(motion, pool()))
    pipelines = {
        name: make_pipeline(MirrorSymmetric(features, pairs), StandardScaler(), clf()),
        "coordinates, mean+std pooled": make_pipeline(
            TemporalPool(stats=("mean", "std"), velocity_stats=()), StandardScaler(), clf()),
    }
    for name, pipe in pipelines.items():
        pipe.fit(videos_tr, y_tr)
        predictions[name] = pipe.predict(videos_te)
        results[("video", name)] = accuracy_score(y_te, predictions[name])
        print(f"video level, {name}: {results[('video', name)]:.3f}", flush=True)

    print()
    print(f"tokenizer: {tok.n_tokens} tokens x {tok.codebook_size} codes, {n_epochs} epochs; "
          f"fitted on every {step}th training frame; frames subsampled 1/{frame_step} at frame level")
    print("| level | features | accuracy |")
    print("|---|---|---|")
    for (level, name), acc in results.items():
        print(f"| {level} | {name} | {acc:.1%} |")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(predictions), figsize=(6.5 * len(predictions), 6))
        for ax, name in zip(axes, predictions):
            cm = confusion_matrix(y_te, predictions[name], labels=np.arange(len(data.action_names)))
            ax.imshow(cm / cm.sum(1, keepdims=True).clip(1), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(len(data.action_names)), data.action_names, rotation=90, fontsize=7)
            ax.set_yticks(range(len(data.action_names)), data.action_names, fontsize=7)
            ax.set_title(f"video level, {name}: {results[('video', name)]:.1%}", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=90)


if __name__ == "__main__":
    main()
