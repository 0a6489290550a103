"""Readers for real keypoint annotations: COCO person keypoints, Penn Action, and 3-D joints.

They read the original formats a user downloads (COCO's JSON, Penn Action's
``labels/*.mat`` folder, the ``data_3d_h36m.npz`` that VideoPose3D's scripts
make from Human3.6M) and the compact ``.npz`` conversions of the same data,
plus a generic reader of per-frame joint arrays (``.npz`` or ``.csv`` with
joint names) for mocap exports and 3-D pose estimators. Nothing is ever
downloaded, and no reader runs code from a file.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_coco_keypoints", "load_coco_results", "load_penn_action", "load_keypoints", "load_h36m_3d",
           "COCO_KEYPOINTS", "H36M_JOINTS", "H36M_SKELETON"]

COCO_KEYPOINTS = np.array([
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
])
"""COCO's 17 person keypoints, in the order of COCO files and most 2-D pose estimators."""

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
    return _coco_annotations(_read_json(path, "a COCO keypoint annotation file"), path, min_keypoints)


def _read_json(path, what):
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not {what} (not UTF-8 JSON: {exc})") from exc


def _coco_annotations(doc, path, min_keypoints):
    """:func:`load_coco_keypoints` of a parsed annotation file (``path`` names it in errors)."""
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


def load_coco_results(path, *, n_keypoints=17):
    """Read a COCO keypoint *results* file: what 2-D pose estimators write for COCO evaluation.

    The file is a JSON list of detections ``{"image_id", "category_id",
    "keypoints": [x, y, v] * n_keypoints, "score"}`` (``bbox`` optional). The
    third value of each joint is a visibility flag or a confidence, depending on
    the estimator; :func:`posetok.datasets.visibility_to_nan` or a threshold
    turns it into missing joints.

    Parameters
    ----------
    path : str or os.PathLike
    n_keypoints : int, default=17

    Returns
    -------
    data : sklearn.utils.Bunch
        ``keypoints`` (n, n_keypoints, 2) pixels, ``confidence`` (n, n_keypoints)
        the third values, ``image_id`` (n,), ``category_id`` (n,), ``score`` (n,)
        (NaN where absent), ``bbox`` (n, 4) (NaN where absent).

    Examples
    --------
    >>> import json, tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "results.json")
    ...     with open(path, "w") as f:
    ...         json.dump([{"image_id": 1, "category_id": 1, "keypoints": [10, 20, 0.9, 0, 0, 0], "score": 0.8}], f)
    ...     data = load_coco_results(path, n_keypoints=2)
    >>> data.keypoints.tolist(), data.confidence.tolist(), data.score.tolist()
    ([[[10.0, 20.0], [0.0, 0.0]]], [[0.9, 0.0]], [0.8])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return _coco_results(_read_json(path, "a COCO results file"), path, n_keypoints)


def _coco_results(doc, path, n_keypoints):
    """:func:`load_coco_results` of a parsed results file (``path`` names it in errors)."""
    if not isinstance(doc, list):
        raise ValueError(f"{path} is not a COCO results file: expected a JSON list of detections"
                         + (" (an object with 'annotations' is an annotation file)" if isinstance(doc, dict) else ""))
    if not doc:
        raise ValueError(f"{path} holds no detection")
    rows, boxes, ids, categories, scores = [], [], [], [], []
    for i, entry in enumerate(doc):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not an object")
        rows.append(_numbers(entry.get("keypoints"), 3 * n_keypoints, where, "keypoints"))
        boxes.append(_numbers(entry["bbox"], 4, where, "bbox") if "bbox" in entry else np.full(4, np.nan))
        for field, out in (("image_id", ids), ("category_id", categories)):
            value = entry.get(field, -1)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{where}: '{field}' must be an integer, got {value!r}")
            out.append(value)
        score = entry.get("score", np.nan)
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise ValueError(f"{where}: 'score' must be a number, got {score!r}")
        scores.append(score)
    raw = np.array(rows).reshape(len(rows), n_keypoints, 3)
    return Bunch(keypoints=raw[..., :2], confidence=raw[..., 2], image_id=np.array(ids),
                 category_id=np.array(categories), score=np.array(scores, dtype=float), bbox=np.array(boxes))


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


_AXES = "xyz"


def load_keypoints(path, *, n_dims=None):
    """Read per-frame joint positions (2-D or 3-D) with joint names from ``.npz`` or ``.csv``.

    For exports of mocap systems, 3-D pose estimators and landmark trackers.

    - ``.npz``: an array ``keypoints`` of shape (n_frames, n_joints, n_dims)
      (or the file's only array), and optionally ``joint_names`` (n_joints,)
      strings. Object arrays are refused (they would need pickle).
    - ``.csv``: a header row and one row per frame; columns ``<joint>_x``,
      ``<joint>_y`` (and ``<joint>_z`` in 3-D), joint after joint, and
      optionally a first column ``frame`` or ``entry`` (as ``posetok decode``
      writes). An empty cell is a missing value (NaN); a missing joint has
      every coordinate empty.

    Parameters
    ----------
    path : str or os.PathLike
    n_dims : int or None, default=None
        Coordinates per joint the file must hold; None accepts what it holds.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``keypoints`` (n_frames, n_joints, n_dims) floats, ready for
        ``PoseTokenizer().fit`` (which reads ``n_dims`` from the array);
        ``joint_names`` (n_joints,) (``joint_0``, ... when the file has none);
        ``frame`` or ``entry`` (n_frames,) when the CSV has that first column.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "poses.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("frame,head_x,head_y,head_z,neck_x,neck_y,neck_z\\n0,0.1,1.7,0.0,0.1,1.5,0.0\\n")
    ...     data = load_keypoints(path)
    >>> data.keypoints.shape, data.joint_names.tolist()
    ((1, 2, 3), ['head', 'neck'])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".npz":
        data = _keypoints_npz(path)
    elif path.suffix == ".csv":
        data = _keypoints_csv(path)
    else:
        raise ValueError(f"{path}: load_keypoints reads .npz and .csv files, not {path.suffix or 'no suffix'!r}")
    if n_dims is not None and data.keypoints.shape[2] != n_dims:
        raise ValueError(f"{path} holds {data.keypoints.shape[2]} coordinate(s) per joint, expected n_dims={n_dims}")
    return data


def _keypoints_npz(path):
    try:
        with np.load(path, allow_pickle=False) as d:
            names = list(d.keys())
            if "keypoints" in names:
                key = "keypoints"
            elif len(names) == 1:
                key = names[0]
            else:
                raise ValueError(f"{path}: no array named 'keypoints' among {names}")
            keypoints = d[key]
            joint_names = d["joint_names"] if "joint_names" in names else None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(f"{path}: holds object arrays, which need pickle; store numbers and strings") from exc
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path} cannot be read as an .npz file ({exc})") from exc
    if keypoints.ndim != 3 or keypoints.dtype.kind not in "iuf" or 0 in keypoints.shape:
        raise ValueError(f"{path}: {key!r} must be a non-empty number array (n_frames, n_joints, n_dims), "
                         f"got shape {keypoints.shape} of dtype {keypoints.dtype}")
    n_joints = keypoints.shape[1]
    if joint_names is None:
        joint_names = np.array([f"joint_{j}" for j in range(n_joints)])
    elif joint_names.shape != (n_joints,) or joint_names.dtype.kind not in "US":
        raise ValueError(f"{path}: 'joint_names' must be {n_joints} strings, got shape {joint_names.shape}")
    return Bunch(keypoints=keypoints.astype(float), joint_names=joint_names.astype(str))


def _keypoints_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row of <joint>_x, <joint>_y, ... columns")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    frame_column = bool(header) and header[0].lower() in ("frame", "entry")
    columns = header[1:] if frame_column else header
    joints, axes = [], []
    for name in columns:
        joint, _, axis = name.rpartition("_")
        if not joint or axis.lower() not in _AXES:
            raise ValueError(f"{path}: column {name!r} is not <joint>_x, <joint>_y or <joint>_z")
        joints.append(joint)
        axes.append(axis.lower())
    n_dims = axes.index(axes[0], 1) if axes.count(axes[0]) > 1 else len(axes)
    if not columns or n_dims > 3 or len(columns) % n_dims or axes != list(_AXES[:n_dims]) * (len(columns) // n_dims):
        raise ValueError(f"{path}: the columns must be the joints' coordinates in turn ({', '.join(_AXES[:2])}"
                         f"[, z] for each joint), got {columns[:6]}")
    names = joints[::n_dims]
    for j, name in enumerate(names):
        if joints[j * n_dims : (j + 1) * n_dims] != [name] * n_dims:
            raise ValueError(f"{path}: the coordinates of joint {name!r} are not in adjacent columns")
    if not body:
        raise ValueError(f"{path} has a header but no frames")
    values = np.empty((len(body), len(header)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {r}: {len(row)} values for {len(header)} columns")
        for c, cell in enumerate(row):
            try:
                values[r - 2, c] = float(cell) if cell.strip() else np.nan
            except ValueError:
                raise ValueError(f"{path}, line {r}, column {header[c]!r}: {cell!r} is not a number") from None
    data = Bunch(keypoints=values[:, int(frame_column):].reshape(len(body), len(names), n_dims),
                 joint_names=np.array(names))
    if frame_column:
        data[header[0].lower()] = values[:, 0]
    return data


H36M_JOINTS = np.array([
    "hip", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine",
    "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
    "right_elbow", "right_wrist",
])
"""The 17 Human3.6M joints that move, in the order 3-D pose papers use (VideoPose3D's)."""

H36M_SKELETON = np.array([
    [0, 1], [1, 2], [2, 3], [0, 4], [4, 5], [5, 6], [0, 7], [7, 8], [8, 9], [9, 10],
    [8, 11], [11, 12], [12, 13], [8, 14], [14, 15], [15, 16],
])
"""Limbs of :data:`H36M_JOINTS` as pairs of 0-based indices."""

# Of the 32 joints of the raw Human3.6M skeleton, the 17 that move (the rest duplicate them).
_H36M_KEPT = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

H36M_SOURCE = (
    "data_3d_h36m.npz is made from the Human3.6M dataset (http://vision.imar.ro/human3.6m/, licence from "
    "its authors) by VideoPose3D's data/prepare_data_h36m.py"
)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dictionaries, strings and numpy arrays only: nothing that can run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only arrays are read")
        if module == "numpy.core.multiarray":  # files written by numpy 1; numpy 2 moved it
            module = np.ndarray.__reduce__(np.zeros(0))[0].__module__
        return super().find_class(module, name)


def _read_object_npy(raw, where):
    """The object stored in an .npy of dtype object, through :class:`_ArraysOnly`."""
    f = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(f)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)(f, max_header_size=10_000)
    except ValueError as exc:
        raise ValueError(f"{where} is not a valid .npy array ({exc})") from exc
    if header[2] != np.dtype(object):
        raise ValueError(f"{where} must hold a pickled dictionary (dtype object), got dtype {header[2]}")
    try:
        value = _ArraysOnly(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be read safely: {exc}") from exc
    return value.item() if isinstance(value, np.ndarray) and value.shape == () else value


def load_h36m_3d(path, *, subjects=None, all_joints=False):
    """Read Human3.6M 3-D joint positions from VideoPose3D's ``data_3d_h36m.npz``.

    That file holds ``positions_3d``, a dictionary subject -> action ->
    array (n_frames, 32, 3) in metres, world coordinates (z up), saved with
    pickle. It is read here without pickle's ability to run code: only
    dictionaries, strings and numpy arrays are accepted. :data:`H36M_SOURCE`
    says where the file comes from.

    Parameters
    ----------
    path : str or os.PathLike
    subjects : sequence of str or None, default=None
        Subjects to read (e.g. ``["S1", "S5", "S6", "S7", "S8"]``, the usual
        training subjects); None reads all.
    all_joints : bool, default=False
        Keep all 32 joints instead of the 17 that move (:data:`H36M_JOINTS`).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``keypoints`` (n_frames, 17, 3) (or 32) in metres; ``subject`` (n,),
        ``action`` (n,) and ``frame_index`` (n,) per frame; ``joint_names``
        and ``skeleton`` (17 joints only). For a tokenizer,
        ``PoseTokenizer().fit(data.keypoints)``; draw with
        ``plot_pose(..., vertical_axis="z")``.
    """
    path = Path(path)
    if not path.exists():
        raise _missing(path, H36M_SOURCE)
    try:
        with zipfile.ZipFile(path) as zf:
            if "positions_3d.npy" not in zf.namelist():
                raise ValueError(f"{path} has no 'positions_3d'; expected VideoPose3D's data_3d_h36m.npz")
            raw = zf.read("positions_3d.npy")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path} cannot be read as an .npz file ({exc})") from exc
    positions = _read_object_npy(raw, f"{path}: positions_3d")
    if not isinstance(positions, dict) or not all(isinstance(v, dict) for v in positions.values()):
        raise ValueError(f"{path}: positions_3d must be a dictionary subject -> action -> array")
    if subjects is not None:
        unknown = sorted(set(subjects) - set(positions))
        if unknown:
            raise ValueError(f"{path} has no subject {unknown[0]!r}; it has {sorted(positions)}")
    parts, subject_of, action_of, frame_of = [], [], [], []
    for subject in sorted(positions) if subjects is None else subjects:
        for action in sorted(positions[subject]):
            a = positions[subject][action]
            where = f"{path}: {subject}/{action}"
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.ndim != 3 or a.shape[1:] != (32, 3):
                raise ValueError(f"{where} must be a float array (n_frames, 32, 3), got "
                                 f"{getattr(a, 'shape', type(a).__name__)}")
            parts.append(a if all_joints else a[:, _H36M_KEPT])
            subject_of += [subject] * len(a)
            action_of += [action] * len(a)
            frame_of.append(np.arange(len(a)))
    if not parts:
        raise ValueError(f"{path} holds no frames")
    data = Bunch(keypoints=np.concatenate(parts).astype(float), subject=np.array(subject_of),
                 action=np.array(action_of), frame_index=np.concatenate(frame_of))
    if not all_joints:
        data.joint_names, data.skeleton = H36M_JOINTS.copy(), H36M_SKELETON.copy()
    return data
