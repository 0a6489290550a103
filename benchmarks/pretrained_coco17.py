"""Train, measure and package posetok's pretrained COCO-17 tokenizers (posetok.pretrained).

Run from the repository root (needs ../shared/data, see docs/benchmarks.md):

    python benchmarks/pretrained_coco17.py --model coco17            # about 20 minutes on 2 cores
    python benchmarks/pretrained_coco17.py --model coco17-compact    # about 15 minutes
    python benchmarks/pretrained_coco17.py --model coco17 --quick    # 10 000 persons, 2 epochs: a smoke run
    python benchmarks/pretrained_coco17.py --model coco17 --evaluate-only   # measure the shipped file

Each model is fitted on every COCO 2017 train person with at least one labelled joint
(149 813), in image pixels: unlabelled joints are NaN, ``normalize="pose"`` frames each
pose by the box around its labelled joints, so the model takes any detector's pixels at any
scale, and masked training (``mask_probability=0.3``) teaches it to fill missing joints.
A model marked ``boxes`` in ``posetok.models.MODELS`` is fitted with the persons' boxes
(``fit(X, boxes=...)``: half the persons framed by their box, half by their joints), and
measured twice: without boxes and (keys ``..._with_boxes``) with the val persons' boxes.
The configurations are in ``posetok.models.MODELS``. The model is written to
``posetok/models/<name>.posetok`` (``--out`` to write elsewhere), with a fixture of 32 val
poses and their ids in ``tests/data/pretrained_<name>.npz`` that the tests check the
shipped file against.

Measured on the COCO 2017 val persons (all 6 352 with a labelled joint; OKS-AR, and MPJPE
again, on the 3 153 whose segment area is known, as in coco_rate_distortion.py): OKS-AR and
MPJPE % of the reconstruction through the model's ids, mapped back to pixels with each pose's
frame; and the error on 1, 3 or 6 labelled joints hidden at random and filled in by
``PoseImputer(FrozenEstimator(model))``. "MPJPE %" is the unit of coco_rate_distortion.py and
imputation.py (shared/reference/coco-baselines.md): the distance in box-normalised units
(pixels / (1.25 * max(w, h / 0.75))) divided by 1.25, so pixels / (1.5625 * max(w, h / 0.75)),
in percent. (Up to commit 4c9408e this script divided pixels by max(w, h / 0.75)
alone, 1.5625 times the figures of the other two scripts; results files of that time have the
keys ``mpjpe_pct_box`` and ``hidden_K_pct_box``.) Prints the numbers; with --json PATH also
writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator

from posetok import PoseImputer, PoseTokenizer
from posetok.datasets import visibility_to_nan
from posetok.metrics import joint_distances, object_keypoint_similarity, oks_ar
from posetok.models import MODELS
from posetok.normalization import frame, unframe

sys.path.insert(0, str(Path(__file__).parent))
from imputation import hide  # noqa: E402
from report import format_row  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def load(split):
    path = DATA / f"coco2017_{split}_person_keypoints.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found: this script reads the COCO keypoints of shared/data")
    d = np.load(path)
    return visibility_to_nan(d["keypoints"], d["visibility"]), d["bbox"], d["area"]


def box_unit(bbox):
    """Per-person length of coco_rate_distortion.py's "MPJPE %": 1.25 * 1.25 * max(w, h / 0.75).

    The reference normalises by ``s = 1.25 * max(w, h / 0.75)`` and divides the normalised
    distance by 1.25 once more (shared/reference/coco-baselines.md).
    """
    return 1.25 * 1.25 * np.maximum(bbox[:, 2], bbox[:, 3] / 0.75)


def to_pixels(tok, ids, X, boxes=None):
    """Decode ids and map each pose back to pixels with its frame: its box, or its labelled joints."""
    return unframe(tok.inverse_transform(ids), *frame(X, "pose", 2, boxes)[1:])


def evaluate(tok, X_val, bbox, area, boxes=False):
    """The measures of the module docstring; ``boxes=True``: the val persons' boxes are given to the
    model (keys end in ``_with_boxes``), as a detector's would be."""
    unit = box_unit(bbox)
    given = bbox if boxes else None
    ids = tok.transform(X_val, boxes=given)
    X_hat = to_pixels(tok, ids, X_val, given)
    d = joint_distances(X_val, X_hat) / unit[:, None]
    known = ~np.isnan(area)
    oks = object_keypoint_similarity(X_val[known], X_hat[known], area[known])
    out = {"oks_ar": oks_ar(oks), "mpjpe_pct": float(100 * np.nanmean(d)),
           "mpjpe_pct_oks_persons": float(100 * np.nanmean(d[known])), "n_val": len(X_val),
           "n_val_oks": int(known.sum()), "bits_per_pose": tok.bits_per_pose_,
           "val_codebook_usage": float(len(np.unique(ids[:, : tok.n_tokens])) / tok.codebook_size)}
    imputer = PoseImputer(FrozenEstimator(tok)).fit(X_val[:1])
    rng = np.random.default_rng(0)
    for k in (1, 3, 6):
        gappy, hidden, keep = hide(X_val, k, rng)
        filled = imputer.transform(gappy, boxes=None if given is None else given[keep])
        dist = joint_distances(X_val[keep], filled) / unit[keep, None]
        out[f"hidden_{k}_pct"] = float(100 * dist[hidden].mean())
        out[f"hidden_{k}_n_poses"] = int(keep.sum())
    if boxes:
        out = {f"{key}_with_boxes": value for key, value in out.items()}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--n-epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 000 train persons and 2 epochs, written to /tmp")
    parser.add_argument("--evaluate-only", action="store_true", help="measure the file in --out; fit nothing")
    parser.add_argument("--out", type=Path, default=None, help="folder of the model file (default posetok/models)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = args.out or (Path("/tmp/posetok-pretrained") if args.quick else ROOT / "posetok" / "models")
    out.mkdir(parents=True, exist_ok=True)
    path = out / MODELS[args.model].file
    X_val, bbox_val, area_val = load("val")
    report = {"model": args.model}
    if args.evaluate_only:
        tok = PoseTokenizer.load(path)
    else:
        X_train, bbox_train, _ = load("train")
        n_epochs = 2 if args.quick else args.n_epochs
        if args.quick:
            rows = np.random.default_rng(0).permutation(len(X_train))[:10000]
            X_train, bbox_train = X_train[rows], bbox_train[rows]
        tok = PoseTokenizer(**MODELS[args.model].params, n_epochs=n_epochs, random_state=0, verbose=1)
        tic = time.perf_counter()
        tok.fit(X_train, boxes=bbox_train if MODELS[args.model].boxes else None)
        report.update(fit_seconds=time.perf_counter() - tic, n_train=len(X_train), n_epochs=n_epochs,
                      fitted_with_boxes=MODELS[args.model].boxes)
        tok.save(path)
        if not args.quick:
            fixture, boxes = X_val[:32], bbox_val[:32]
            np.savez(ROOT / "tests" / "data" / f"pretrained_{args.model}.npz", X=fixture, ids=tok.transform(fixture),
                     boxes=boxes, ids_with_boxes=tok.transform(fixture, boxes=boxes))
    loads = []
    for _ in range(5):
        tic = time.perf_counter()
        PoseTokenizer.load(path)
        loads.append(time.perf_counter() - tic)
    report.update(load_seconds_median_of_5=float(np.median(loads)))
    report.update(file=str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                  file_bytes=path.stat().st_size, params=tok.get_params(), **evaluate(tok, X_val, bbox_val, area_val))
    if MODELS[args.model].boxes:
        report.update(evaluate(tok, X_val, bbox_val, area_val, boxes=True))
    print(format_row({k: v for k, v in report.items() if k != "params"}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)


if __name__ == "__main__":
    main()
