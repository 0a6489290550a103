"""Readers for real keypoint annotations: COCO person keypoints and Penn Action.

They read the original formats a user downloads (COCO's JSON, Penn Action's
``labels/*.mat`` folder) and the compact ``.npz`` conversions of the same
data. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_coco_keypoints", "load_penn_action"]

COCO_SOURCE = (
    "COCO 2017 person keypoints come from https://cocodataset.org (annotations_trainval2017.zip, "
    "file person_keypoints_{train,val}2017.json)"
)
PENN_SOURCE = (
    "Penn Action comes from the University of Pennsylvania's Penn Action page "
    "(Penn_Action.tar.gz, folder Penn_Action/labels with one NNNN.mat per video)"
)


def _missing(path, source):
    return FileNotFoundError(f"{path} does not exist. {source}; posetok never downloads data.")


def load_coco_keypoints(path, *, min_keypoints=1):
    """Read COCO person keypoints from the official JSON or a compact ``.npz``.

    Parameters
    ----------
    path : str or os.PathLike
        ``person_keypoints_{train,val}2017.json`` (or any COCO keypoint JSON), or
        an ``.npz`` with arrays ``keypoints``, ``visibility``, ``bbox`` and
        optionally ``area``, ``image_id``.
    min_keypoints : int, default=1
        Keep persons with at least this many labelled keypoints (JSON only;
        the compact files hold the persons with at least one).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``keypoints`` (n, K, 2) float pixels, ``visibility`` (n, K) COCO flags
        (0 unlabelled, 1 occluded, 2 visible), ``bbox`` (n, 4) as x, y, w, h,
        ``area`` (n,) (NaN where unknown), ``image_id`` (n,),
        ``keypoint_names`` (K,) and ``skeleton`` (limbs, 2) 0-based.
        Pass ``keypoints`` and ``visibility`` to
        :func:`posetok.datasets.visibility_to_nan` for a tokenizer's X.
    """
    path = Path(path)
    if not path.exists():
        raise _missing(path, COCO_SOURCE)
    if path.suffix == ".npz":
        d = np.load(path)
        n = len(d["keypoints"])
        skeleton = d["skeleton_0based"] if "skeleton_0based" in d.files else np.zeros((0, 2), int)
        return Bunch(
            keypoints=d["keypoints"].astype(float),
            visibility=_coco_visibility(d["visibility"], f"{path}: visibility"),
            bbox=d["bbox"].astype(float),
            area=d["area"].astype(float) if "area" in d.files else np.full(n, np.nan),
            image_id=d["image_id"] if "image_id" in d.files else np.full(n, -1),
            keypoint_names=d["keypoint_names"] if "keypoint_names" in d.files else np.array([]),
            skeleton=skeleton.astype(int),
        )
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not a COCO keypoint annotation file (not UTF-8 JSON: {exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise ValueError(f"{path} is not a COCO keypoint annotation file: expected an object with an "
                         "'annotations' list")
    categories = doc.get("categories", [])
    if not isinstance(categories, list):
        raise ValueError(f"{path}: 'categories' must be a list")
    categories = [c for c in categories if isinstance(c, dict) and "keypoints" in c]
    if not categories:
        raise ValueError(f"{path} has no category with keypoint names; is it a person_keypoints file?")
    names = np.array(categories[0]["keypoints"])
    rows, boxes, kept = [], [], []
    for i, a in enumerate(doc["annotations"]):
        where = f"{path}: annotation {i} (id {a.get('id', '?') if isinstance(a, dict) else '?'})"
        if not isinstance(a, dict):
            raise ValueError(f"{where} is not an object")
        kp = _numbers(a.get("keypoints"), 3 * len(names), where, "keypoints")
        box = _numbers(a.get("bbox"), 4, where, "bbox")
        vis = _coco_visibility(kp[2::3], f"{where}: keypoint visibility")
        if a.get("num_keypoints", np.count_nonzero(vis)) >= min_keypoints:
            rows.append(kp)
            boxes.append(box)
            kept.append(a)
    raw = np.array(rows, dtype=float).reshape(len(rows), len(names), 3)
    return Bunch(
        keypoints=raw[..., :2],
        visibility=raw[..., 2].astype(np.uint8),
        bbox=np.array(boxes, dtype=float).reshape(len(rows), 4),
        area=np.array([a.get("area", np.nan) for a in kept], dtype=float),
        image_id=np.array([a.get("image_id", -1) for a in kept]),
        keypoint_names=names,
        skeleton=np.array(categories[0].get("skeleton", []), dtype=int).reshape(-1, 2) - 1,
    )


def _numbers(value, length, where, field):
    """A JSON list of ``length`` finite numbers as float64, or a ValueError naming the entry."""
    if not isinstance(value, list) or len(value) != length:
        got = f"{len(value)} values" if isinstance(value, list) else repr(type(value).__name__)
        raise ValueError(f"{where}: '{field}' must be a list of {length} numbers, got {got}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: '{field}' must hold numbers only")
    out = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}: '{field}' holds NaN or infinite values")
    return out


def _coco_visibility(values, where):
    """COCO visibility flags as uint8, refusing anything but 0, 1 and 2 (no silent wrap-around)."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf" or not np.isin(values, (0, 1, 2)).all():
        bad = values[~np.isin(values, (0, 1, 2))] if values.dtype.kind in "iuf" else values.ravel()
        raise ValueError(f"{where}: COCO visibility flags must be 0, 1 or 2, got {bad.ravel()[0].item()!r}")
    return values.astype(np.uint8)


PENN_JOINTS = np.array([
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
])  # fmt: skip


def load_penn_action(path):
    """Read Penn Action's 2-D joints and action labels, one row per frame.

    Parameters
    ----------
    path : str or os.PathLike
        The ``labels`` folder of Penn Action (``0001.mat`` ... ``2326.mat``, read
        with scipy: ``pip install scipy``), or the compact ``penn_action_2d.npz``.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``keypoints`` (F, 13, 2) pixels, ``visibility`` (F, 13) Penn's 0/1 flags
        (coordinates of invisible joints are annotator guesses), ``bbox`` (F, 4)
        as x1, y1, x2, y2, ``action`` (F,) index into ``action_names``,
        ``video_id`` (F,), ``frame_index`` (F,), ``is_train`` (F,) Penn's official
        video-level split, ``action_names`` and ``joint_names``.
    """
    path = Path(path)
    if not path.exists():
        raise _missing(path, PENN_SOURCE)
    if path.suffix == ".npz":
        d = np.load(path)
        return Bunch(**{k: d[k] for k in (
            "keypoints", "visibility", "bbox", "action", "video_id", "frame_index", "is_train",
            "action_names", "joint_names")})
    files = sorted(path.glob("*.mat"))
    if not files:
        raise ValueError(f"{path} holds no .mat files; expected Penn Action's labels folder. {PENN_SOURCE}")
    try:
        from scipy.io import loadmat
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading Penn Action's .mat files needs scipy: pip install scipy") from exc
    videos = []
    for f in files:
        videos.append(_penn_video(f, loadmat))
    action_names = np.array(sorted({v[5] for v in videos}))
    return Bunch(
        keypoints=np.concatenate([np.stack([x, y], -1) for _, x, y, *_ in videos]),
        visibility=np.concatenate([v[3] for v in videos]),
        bbox=np.concatenate([v[4] for v in videos]),
        action=np.concatenate([np.full(len(v[1]), np.searchsorted(action_names, v[5])) for v in videos]),
        video_id=np.concatenate([np.full(len(v[1]), v[0]) for v in videos]),
        frame_index=np.concatenate([np.arange(len(v[1])) for v in videos]),
        is_train=np.concatenate([np.full(len(v[1]), v[6]) for v in videos]),
        action_names=action_names,
        joint_names=PENN_JOINTS,
    )


def _penn_video(f, loadmat):
    """One Penn Action label file, checked field by field; errors name the file and the field."""
    try:
        m = loadmat(f)
    except Exception as exc:  # scipy raises several types for damaged files
        raise ValueError(f"{f} cannot be read as a MATLAB file ({type(exc).__name__}: {exc})") from exc
    try:
        x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
        action = np.asarray(m["action"]).ravel()
        train = np.asarray(m["train"]).ravel()
        vis = np.asarray(m["visibility"])
        bbox = np.asarray(m["bbox"], float)
    except KeyError as exc:
        raise ValueError(f"{f} is not a Penn Action label file (missing field {exc})") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{f}: a field is not numeric ({exc})") from exc
    n_joints = len(PENN_JOINTS)
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] != n_joints:
        raise ValueError(f"{f}: 'x' and 'y' must both be (n_frames, {n_joints}), got {x.shape} and {y.shape}")
    if vis.shape != x.shape or not np.isin(vis, (0, 1)).all():
        raise ValueError(f"{f}: 'visibility' must be 0/1 flags of shape {x.shape}")
    if bbox.ndim != 2 or bbox.shape[1] != 4 or len(bbox) > len(x):
        raise ValueError(f"{f}: 'bbox' must be (n_frames, 4), got {bbox.shape}")
    if action.size != 1 or train.size != 1:
        raise ValueError(f"{f}: 'action' and 'train' must hold one value each")
    n = len(x)
    if len(bbox) < n:  # two videos of the release are one bbox row short
        bbox = np.vstack([bbox, np.full((n - len(bbox), 4), np.nan)])
    try:
        video_id = int(f.stem)
    except ValueError as exc:
        raise ValueError(f"{f}: Penn Action label files are named by video number (0001.mat)") from exc
    return video_id, x, y, vis.astype(np.uint8), bbox, str(action[0]), int(train[0]) == 1
