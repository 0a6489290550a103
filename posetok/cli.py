"""The command line: ``posetok demo | tokenize | decode | fit | info`` (also ``python -m posetok``).

``tokenize`` turns a keypoint file into token ids with a pretrained or saved model, no fit
needed; ``decode`` turns ids back into keypoints; ``fit`` trains and saves a model;
``info`` describes one. Keypoint files: COCO results JSON (a list of ``{"image_id",
"category_id", "keypoints": [x, y, v] * K, "score"}``, as 2-D pose estimators write them),
COCO annotation JSON, ``.npz`` (an array ``keypoints``) and ``.csv`` (``<joint>_x,
<joint>_y[, <joint>_z]`` columns). A bad file gets one line naming the entry, not a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .distributed import process_group
from .tokenizer import _ordinal

__all__ = ["main"]

_CHUNK = 8192  # poses per step of tokenize/decode, so that the progress line moves


class CommandError(Exception):
    """A problem with the user's files or arguments: reported in one line, exit status 2."""


# ------------------------------------------------------------------------ keypoint files
def _json(path):
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CommandError(f"{path} is not valid UTF-8 JSON ({exc})") from exc


def read_poses(path, *, min_confidence=0.0, n_dims=None):
    """Keypoints (n, K, D) of a keypoint file, missing joints NaN, and what to carry along.

    A joint whose third value (COCO visibility, or an estimator's confidence) is at most
    ``min_confidence`` is missing. Returns ``(keypoints, meta, joint_names, boxes)`` where
    ``meta`` holds per-pose ``image_id``, ``category_id`` and ``score`` when the file has them,
    and ``boxes`` the person boxes (n, 2 * D), lowest corner and size, NaN rows where a pose has
    none (COCO ``bbox``; an .npz array ``bbox``), or None for a file without boxes.
    """
    from .readers import _coco_annotations, _coco_results, load_keypoints

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path} does not exist or is not a file")
    meta, names, boxes = {}, None, None
    if path.suffix == ".json":
        doc = _json(path)  # parsed once here, read by the readers' own checks
        if isinstance(doc, dict):
            data = _coco_annotations(doc, path, min_keypoints=0)
            confidence, names, boxes = data.visibility, data.keypoint_names, data.bbox
            meta["image_id"] = data.image_id
        else:
            data = _coco_results(doc, path, n_keypoints=_results_width(doc, path))
            confidence, boxes = data.confidence, data.bbox
            meta.update(image_id=data.image_id, category_id=data.category_id, score=data.score)
        keypoints = np.where((confidence > min_confidence)[..., None], data.keypoints, np.nan)
    elif path.suffix == ".npz":
        keypoints, meta, boxes = _npz_poses(path, min_confidence, n_dims)
    elif path.suffix == ".csv":
        data = load_keypoints(path)
        keypoints, names = data.keypoints, data.joint_names
    else:
        raise CommandError(f"{path}: keypoint files are .json (COCO), .npz or .csv, not {path.suffix or 'no suffix'!r}")
    if n_dims is not None and keypoints.shape[2] != n_dims:
        raise CommandError(f"{path} holds {keypoints.shape[2]}-D keypoints, the model takes {n_dims}-D ones")
    if boxes is not None and np.isnan(boxes).all():
        boxes = None
    return keypoints, meta, names, boxes


def _results_width(doc, path):
    """The number of keypoints of a results list, from its first entry."""
    first = doc[0] if doc and isinstance(doc[0], dict) else {}
    values = first.get("keypoints")
    if not isinstance(values, list) or not values or len(values) % 3:
        raise CommandError(f"{path}: entry 0: 'keypoints' must be a list of x, y, v triples")
    return len(values) // 3


def _npz_poses(path, min_confidence, n_dims):
    try:
        with np.load(path, allow_pickle=False) as d:
            arrays = {k: d[k] for k in d.files}
    except ValueError as exc:
        raise CommandError(f"{path}: holds object arrays, which need pickle; store numbers only") from exc
    except (OSError, EOFError) as exc:
        raise CommandError(f"{path} cannot be read as an .npz file ({exc})") from exc
    if "keypoints" not in arrays:
        raise CommandError(f"{path} has no array 'keypoints' (it has {sorted(arrays)})")
    kp = arrays["keypoints"]
    if kp.dtype.kind not in "iuf" or kp.ndim not in (2, 3) or not kp.size:
        raise CommandError(f"{path}: 'keypoints' must be numbers of shape (n, K, D) or (n, D * K), got "
                           f"{kp.shape} {kp.dtype}")
    if kp.ndim == 2:
        d = n_dims or 2
        if kp.shape[1] % d:
            raise CommandError(f"{path}: 'keypoints' has {kp.shape[1]} columns, not a multiple of {d}")
        kp = kp.reshape(len(kp), -1, d)
    kp = kp.astype(float)
    for flags in ("visibility", "confidence"):
        if flags in arrays:
            if arrays[flags].shape != kp.shape[:2]:
                raise CommandError(f"{path}: '{flags}' must have shape {kp.shape[:2]}, got {arrays[flags].shape}")
            kp = np.where((arrays[flags] > min_confidence)[..., None], kp, np.nan)
    meta = {k: arrays[k] for k in ("image_id", "category_id", "score") if k in arrays and len(arrays[k]) == len(kp)}
    boxes = arrays.get("bbox")
    if boxes is not None:
        if boxes.dtype.kind not in "iuf" or boxes.shape != (len(kp), 2 * kp.shape[2]):
            raise CommandError(f"{path}: 'bbox' must be numbers of shape {(len(kp), 2 * kp.shape[2])} (per pose the "
                               f"lowest corner and the size of its box), got {boxes.shape} {boxes.dtype}")
        boxes = boxes.astype(float)
    return kp, meta, boxes


def _write_table(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _joint_names(n_keypoints, n_dims):
    from .readers import COCO_KEYPOINTS

    if n_keypoints == 17 and n_dims == 2:
        return list(COCO_KEYPOINTS)
    return [f"joint_{j}" for j in range(n_keypoints)]


# --------------------------------------------------------------------------- token files
def write_tokens(path, ids, entry, frames, meta, names, model):
    """Token ids with each pose's entry in the input, its frame (centre, size) and carried fields."""
    from . import __version__

    suffix = Path(path).suffix
    if suffix == ".npz":
        extra = {} if frames is None else {"centre": frames[0], "size": frames[1]}
        np.savez_compressed(path, ids=ids, entry=entry, **extra, **meta, model=np.array(model),
                            posetok_version=np.array(__version__))
    elif suffix == ".json":
        records = []
        for i in range(len(ids)):
            r = {"entry": int(entry[i]), **{k: _plain(v[i]) for k, v in meta.items()}, "tokens": ids[i].tolist()}
            if frames is not None:
                r.update(centre=frames[0][i].tolist(), size=float(frames[1][i]))
            records.append(r)
        with open(path, "w") as f:
            json.dump({"model": model, "posetok_version": __version__, "poses": records}, f)
    elif suffix == ".csv":
        n_dims = 0 if frames is None else frames[0].shape[1]
        frame_cols = [f"centre_{'xyz'[d]}" for d in range(n_dims)] + (["size"] if frames is not None else [])
        header = ["entry", *meta, *frame_cols, *names]
        columns = [entry, *meta.values()]
        if frames is not None:
            columns += [*frames[0].T, frames[1]]
        rows = (list(map(_plain, row)) for row in zip(*columns, *ids.T))
        _write_table(path, header, rows)
    else:
        raise CommandError(f"{path}: token files are .npz, .json or .csv, not {suffix or 'no suffix'!r}")


def _plain(value):
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and value != value else value


def read_tokens(path):
    """``(ids, frames or None, meta, model or None)`` of a file written by :func:`write_tokens`."""
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path} does not exist or is not a file")
    frames, meta, model = None, {}, None
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as d:
                arrays = {k: d[k] for k in d.files}
        except (ValueError, OSError, EOFError) as exc:
            raise CommandError(f"{path} cannot be read as a token file ({exc})") from exc
        if "ids" not in arrays:
            raise CommandError(f"{path} has no array 'ids'; is it a token file from posetok tokenize?")
        ids, model = arrays["ids"], str(arrays["model"]) if "model" in arrays else None
        if "centre" in arrays and "size" in arrays:
            frames = (arrays["centre"], arrays["size"])
        meta = {k: arrays[k] for k in ("entry", "image_id", "category_id", "score") if k in arrays}
    elif path.suffix == ".json":
        doc = _json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("poses"), list):
            raise CommandError(f"{path} is not a token file: expected an object with a 'poses' list")
        model, poses = doc.get("model"), doc["poses"]
        for i, p in enumerate(poses):
            if not isinstance(p, dict) or not isinstance(p.get("tokens"), list):
                raise CommandError(f"{path}: pose {i} has no 'tokens' list")
        ids = _array([p["tokens"] for p in poses], path, "tokens")
        if poses and all("centre" in p and "size" in p for p in poses):
            frames = (_array([p["centre"] for p in poses], path, "centre"),
                      _array([p["size"] for p in poses], path, "size"))
        for key in ("entry", "image_id", "category_id", "score"):
            if poses and all(key in p for p in poses):
                meta[key] = np.array([np.nan if p[key] is None else p[key] for p in poses])
    elif path.suffix == ".csv":
        ids, frames, meta = _read_token_table(path)
    else:
        raise CommandError(f"{path}: token files are .npz, .json or .csv, not {path.suffix or 'no suffix'!r}")
    if ids.ndim != 2 or not len(ids):
        raise CommandError(f"{path}: the ids must be a non-empty table (n_poses, n_ids), got shape {ids.shape}")
    if frames is not None:
        centre, size = np.asarray(frames[0], float), np.asarray(frames[1], float)
        if centre.ndim != 2 or len(centre) != len(ids) or size.shape != (len(ids),):
            raise CommandError(f"{path}: 'centre' must be (n_poses, n_dims) and 'size' (n_poses,)")
        if not (np.isfinite(centre).all() and np.isfinite(size).all() and (size > 0).all()):
            raise CommandError(f"{path}: 'centre' and 'size' must be finite, 'size' positive")
        frames = (centre, size)
    return ids, frames, meta, model


def _array(values, path, field):
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{path}: '{field}' must be numbers of one shape ({exc})") from exc


def _read_token_table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise CommandError(f"{path} has no poses; expected a header and one row per pose")
    header = rows[0]
    try:
        values = np.array([[float(v) if v != "" else np.nan for v in row] for row in rows[1:]])
    except ValueError as exc:
        raise CommandError(f"{path}: every cell must be a number ({exc})") from exc
    if values.ndim != 2 or values.shape[1] != len(header):
        raise CommandError(f"{path}: every row must have {len(header)} values, one per column")
    column = {name: values[:, i] for i, name in enumerate(header)}
    token_cols = [i for i, name in enumerate(header) if name.startswith(("token_", "refinement"))]
    if not token_cols:
        raise CommandError(f"{path} has no token_* columns; is it a token file from posetok tokenize?")
    centre_cols = [name for name in header if name.startswith("centre_")]
    frames = None
    if centre_cols and "size" in column:
        frames = (np.stack([column[c] for c in centre_cols], 1), column["size"])
    meta = {k: column[k] for k in ("entry", "image_id", "category_id", "score") if k in column}
    return values[:, token_cols], frames, meta


def write_poses(path, keypoints, meta, names):
    """Decoded keypoints (n, K, D) as COCO results JSON, .npz or .csv."""
    suffix = Path(path).suffix
    n, n_keypoints, n_dims = keypoints.shape
    if suffix == ".json":
        if n_dims != 2:
            raise CommandError(f"{path}: COCO results hold 2-D keypoints; write {n_dims}-D ones to .npz or .csv")
        flags = np.ones((n, n_keypoints, 1))
        records = []
        for i in range(n):
            r = {"image_id": _as_int(meta.get("image_id"), i, -1),
                 "category_id": _as_int(meta.get("category_id"), i, 1),
                 "keypoints": np.concatenate([keypoints[i], flags[i]], 1).round(3).ravel().tolist()}
            score = _plain(meta["score"][i]) if "score" in meta else None
            r["score"] = 1.0 if score is None else score
            records.append(r)
        with open(path, "w") as f:
            json.dump(records, f)
    elif suffix == ".npz":
        np.savez_compressed(path, keypoints=keypoints, joint_names=np.array(names), **meta)
    elif suffix == ".csv":
        header = ["entry"] + [f"{j}_{'xyz'[d]}" for j in names for d in range(n_dims)]
        entry = meta.get("entry", np.arange(n))
        _write_table(path, header, ([_plain(e), *row] for e, row in zip(entry, keypoints.reshape(n, -1).tolist())))
    else:
        raise CommandError(f"{path}: decoded poses are written to .json (COCO results), .npz or .csv, "
                           f"not {suffix or 'no suffix'!r}")


def _as_int(values, i, default):
    if values is None:
        return default
    v = _plain(values[i])
    return default if v is None else int(v)


# ------------------------------------------------------------------------------ commands
def load_model(name):
    """A pretrained model by name, or a ``.posetok`` file."""
    from . import PoseTokenizer
    from .models import MODELS, pretrained

    if name in MODELS:
        return pretrained(name)
    if not Path(name).is_file():
        raise CommandError(f"--model {name!r} is neither a pretrained model ({', '.join(MODELS)}) nor a file")
    return PoseTokenizer.load(name)


def _chunked(fn, X, label, progress):
    """``fn`` over X in chunks, with a progress line on stderr."""
    out = []
    for start in range(0, len(X), _CHUNK):
        out.append(fn(X[start : start + _CHUNK]))
        if progress:
            done = min(start + _CHUNK, len(X))
            print(f"\r{label}: {done} / {len(X)} poses", end="" if done < len(X) else "\n", file=sys.stderr,
                  flush=True)
    return np.concatenate(out)


def _usable_boxes(boxes, tok, choice, path):
    """The boxes tokenize passes to the model (``--boxes``), with unusable rows NaN, or None."""
    from .normalization import box_faults

    if choice == "ignore" or (choice == "auto" and (boxes is None or not tok.fitted_with_boxes_)):
        return None
    if boxes is None:
        raise CommandError(f"{path} has no person boxes ('bbox'), but --boxes use asks for them")
    if tok.normalize_ != "pose":
        raise CommandError(f"--boxes use: the model has normalize={tok.normalize_!r}; boxes need 'pose'")
    _, infinite, negative, empty = box_faults(boxes, tok.n_dims_)
    bad = ~np.isnan(boxes).any(1) & (infinite | negative | empty)  # a partly NaN box stays an error
    if bad.any():
        print(f"posetok tokenize: {int(bad.sum())} box(es) with no size left out (those poses are framed by their "
              f"joints; first: entry {int(np.flatnonzero(bad)[0])})", file=sys.stderr)
        boxes = np.where(bad[:, None], np.nan, boxes)
    return boxes


def tokenize(args):
    from .normalization import frame

    tok = _ordinal(load_model(args.model))
    keypoints, meta, _, boxes = read_poses(args.input, min_confidence=args.min_confidence, n_dims=tok.n_dims_)
    if keypoints.shape[1] != tok.n_keypoints_:
        raise CommandError(f"{args.input} has {keypoints.shape[1]} keypoints per pose, the model takes "
                           f"{tok.n_keypoints_}")
    X = keypoints.reshape(len(keypoints), -1)
    present = ~np.isnan(X).all(1)
    if not present.all():
        print(f"posetok tokenize: {int((~present).sum())} pose(s) with no observed joint left out (their entry "
              "numbers are missing from the output)", file=sys.stderr)
    if not present.any():
        raise CommandError(f"{args.input}: no pose has an observed joint")
    entry, X = np.flatnonzero(present), X[present]
    meta = {k: v[present] for k, v in meta.items()}
    boxes = _usable_boxes(boxes, tok, args.boxes, args.input)
    if boxes is None:
        ids = _chunked(tok.transform, X, "tokenize", args.progress)
    else:
        boxes = boxes[present]
        ids = _chunked(lambda rows: tok.transform(X[rows], boxes=boxes[rows]), np.arange(len(X)), "tokenize",
                       args.progress)
    frames = frame(X, "pose", tok.n_dims_, boxes)[1:] if tok.normalize_ == "pose" else None
    names = list(tok.get_feature_names_out())
    write_tokens(args.output, ids, entry, frames, meta, names, args.model)
    framed = "" if boxes is None else f"; {int((~np.isnan(boxes).any(1)).sum())} framed by their person box"
    print(f"posetok tokenize: {len(ids)} poses -> {args.output} ({ids.shape[1]} ids each, "
          f"{tok.bits_per_pose_:.0f} bits; model {args.model}{framed})")
    return 0


def decode(args):
    from .normalization import unframe

    ids, frames, meta, recorded = read_tokens(args.input)
    model = args.model or recorded
    if model is None:  # decoding with another model's codebook would give plausible-looking nonsense
        raise CommandError(f"{args.input} does not name the model that wrote it (a .csv token file cannot); "
                           "pass --model")
    tok = _ordinal(load_model(model))
    X = _chunked(tok.inverse_transform, ids, "decode", args.progress)
    if tok.normalize_ == "pose":
        if frames is None:
            print("posetok decode: the token file has no frames (centre, size): poses are in the per-pose frame "
                  "(centre 0, larger side 1), not in the units of the original keypoints", file=sys.stderr)
        else:
            X = unframe(X, *frames)
    keypoints = X.reshape(len(X), tok.n_keypoints_, tok.n_dims_)
    write_poses(args.output, keypoints, meta, _joint_names(tok.n_keypoints_, tok.n_dims_))
    print(f"posetok decode: {len(keypoints)} poses -> {args.output} (model {model})")
    return 0


def fit(args):
    from . import PoseTokenizer

    if Path(args.output).suffix != ".posetok":
        raise CommandError(f"-o {args.output}: the model is written in the safe format; name it *.posetok")
    boxes = None
    if Path(args.input).suffix == ".npy":
        X = _npy_poses(args.input, args.n_dims)
    else:
        keypoints, _, _, boxes = read_poses(args.input, min_confidence=args.min_confidence, n_dims=args.n_dims)
        present = ~np.isnan(keypoints).all((1, 2))
        X, boxes = keypoints[present], None if boxes is None else boxes[present]
    if args.boxes:
        if boxes is None:
            raise CommandError(f"--boxes: {args.input} has no person boxes ('bbox')")
        if args.normalize != "pose":
            raise CommandError("--boxes needs --normalize pose (each pose framed by its box)")
    else:
        boxes = None
    params = dict(n_tokens=args.n_tokens, codebook_size=args.codebook_size, codebooks=args.codebooks,
                  refinement_stages=args.refinement_stages,
                  refinement_codebook_size=args.refinement_codebook_size, normalize=args.normalize,
                  mask_probability=args.mask_probability, rotation_range=args.rotation_range,
                  rotation_axis=args.rotation_axis, n_epochs=args.n_epochs, random_state=args.seed,
                  device=args.device, n_threads=args.n_threads, verbose=0 if args.quiet else 1)
    if X.ndim == 2:  # a flat .npy file: --n-dims says how to read it
        params["n_dims"] = args.n_dims
    try:  # told before the fit, in one line
        checked = PoseTokenizer(**params)
        checked._validate_params()
        checked._rotation_plane(X.shape[2] if X.ndim == 3 else args.n_dims or 2)
    except ValueError as exc:
        raise CommandError(str(exc).replace("rotation_range", "--rotation-range").replace(
            "rotation_axis", "--rotation-axis")) from exc
    n_poses = len(X)
    with process_group(args.device) as (rank, world):
        if world > 1:  # under torchrun: each rank fits on its share of the poses, rank 0 writes the model
            rows = np.array_split(np.arange(len(X)), world)[rank]  # contiguous: a memmap stays one
            X, params["distributed"] = (X[rows[0] : rows[-1] + 1] if len(rows) else X[:0]), True
            if boxes is not None:
                raise CommandError("--boxes: fits with boxes run in one process, not under torchrun")
        try:
            tok = PoseTokenizer(**params).fit(X, boxes=boxes)
        except ValueError as exc:
            if boxes is None:
                raise
            raise CommandError(f"{args.input}: {exc}") from exc
        if rank == 0:
            path = tok.save(args.output)
            shards = f" on {world} processes" if world > 1 else ""
            print(f"posetok fit: {n_poses} poses of {tok.n_keypoints_} "
                  f"{tok.n_dims_}-D keypoints{shards}, {tok.bits_per_pose_:.0f} bits per pose, codebook usage "
                  f"{tok.codebook_usage_:.0%}, {tok.fit_time_:.0f} s -> {path}")
    return 0


def _npy_poses(path, n_dims):
    """The poses of a ``.npy`` file, memory-mapped (fit streams them from disk): (n, K, D), or (n, D * K)
    with ``--n-dims``. Nothing is loaded or filtered, so a pose with no observed joint is an error."""
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path} does not exist or is not a file")
    try:
        poses = np.load(path, mmap_mode="r")  # no pickles: an object array is refused
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from exc
    if poses.ndim == 2 and n_dims is not None:
        return poses
    if poses.ndim != 3:
        raise CommandError(f"{path} holds an array of shape {poses.shape}; a .npy file for fit holds "
                           "(n_poses, n_keypoints, n_dims), or (n_poses, n_dims * n_keypoints) with --n-dims")
    if n_dims is not None and poses.shape[2] != n_dims:
        raise CommandError(f"{path} holds {poses.shape[2]}-D keypoints, --n-dims says {n_dims}")
    return poses


def info(args):
    tok = load_model(args.model)
    config = tok.network_.config
    n_params = sum(p.numel() for p in tok.network_.parameters())
    epochs = [r for r in tok.history_ if r.get("phase") != "pretrain"]
    lines = {
        "model": args.model,
        "keypoints": f"{tok.n_keypoints_} x {tok.n_dims_}-D ({tok.n_features_in_} columns)",
        "tokens": f"{config.n_tokens} of {config.codebook_size} codes"
                  f"{' (a codebook per token)' if config.per_token_codebooks else ''}, token_dim {config.token_dim}",
        "refinement": (f"{tok.refinement_codebooks_.shape[0]} stage(s) of {tok.refinement_codebooks_.shape[2]} codes "
                       "per keypoint") if tok.refinement_codebooks_.shape[0] else "none",
        "bits per pose": f"{tok.bits_per_pose_:.0f}",
        "normalize": tok.normalize_ + ("; fitted with person boxes (tokenize uses a file's boxes)"
                                       if tok.fitted_with_boxes_ else ""),
        "network": (f"encoder {config.encoder_depth} x {config.encoder_width}, decoder {config.decoder_depth} x "
                    f"{config.decoder_width}, {n_params} parameters"),
        "training": (f"{len(epochs)} epochs on {tok.device_}, {tok.fit_time_:.0f} s, mask_probability "
                     f"{tok.mask_probability}, codebook usage {tok.codebook_usage_:.0%}"),
    }
    width = max(map(len, lines))
    for key, value in lines.items():
        print(f"{key:<{width}}  {value}")
    return 0


# ---------------------------------------------------------------------------------- demo
def _output_folder(out: Path) -> str | None:
    """Why ``out`` cannot take the demo's files, or None; checked before the fit, not after it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"--out {out} is a file, not a folder"
    except NotADirectoryError:
        return f"--out {out} lies under a file, not a folder"
    except PermissionError:
        return f"--out {out} cannot be created (permission denied)"
    except OSError as exc:
        return f"--out {out} cannot be created ({exc.strerror or exc})"
    if not out.is_dir():
        return f"--out {out} is not a folder"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out} is not writable"
    return None


def demo(n_train: int, n_test: int, out: Path, seed: int, n_epochs: int = 60) -> int:
    """Fit the default tokenizer on stick figures and report held-out quality."""
    from . import PoseTokenizer
    from .datasets import make_stick_figures

    X, _ = make_stick_figures(n_train, random_state=seed)
    X_test, _ = make_stick_figures(n_test, random_state=seed + 1)
    print(f"posetok demo: {n_train} training and {n_test} held-out stick figures (13 keypoints, 64x64 px), "
          f"{n_epochs} epochs")
    tok = PoseTokenizer(n_epochs=n_epochs, random_state=seed, verbose=1)
    tic = time.perf_counter()
    tok.fit(X)
    fit_time = time.perf_counter() - tic
    ids = tok.transform(X_test)
    X_hat = tok.inverse_transform(ids)
    error = np.linalg.norm((X_hat - X_test).reshape(n_test, -1, 2), axis=-1).mean()
    bits = tok.bits_per_pose_
    print()
    print(f"tokens per pose        {tok.n_tokens} x {tok.codebook_size} codes ({bits:.0f} bits)")
    print(f"held-out joint error   {error:.3f} px (mean per-joint distance)")
    print(f"codebook usage         {len(np.unique(ids)) / tok.codebook_size:.1%} of codes on held-out poses")
    print(f"distinct token strings {len(np.unique(ids, axis=0))} of {n_test} held-out poses")
    print(f"fit time               {fit_time:.1f} s on {tok.device_}")
    model_path = tok.save(out / "stick_figure_tokenizer.posetok")  # the safe format, not pickle
    print(f"model saved            {model_path}")
    try:
        import matplotlib
    except ImportError:
        print("figure skipped         matplotlib is not installed (pip install 'posetok[plot]')")
        return 0
    matplotlib.use("Agg")
    from .datasets import STICK_FIGURE_SKELETON
    from .plotting import plot_reconstructions

    fig = plot_reconstructions(tok, X_test, skeleton=STICK_FIGURE_SKELETON)
    fig_path = out / "reconstructions.png"
    fig.savefig(fig_path, dpi=100)
    print(f"figure saved           {fig_path}")
    return 0


# -------------------------------------------------------------------------------- parser
def _parser():
    from . import __version__

    parser = argparse.ArgumentParser(prog="posetok", description="Human poses as compositional tokens.")
    parser.add_argument("--version", action="version", version=f"posetok {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="fit the default tokenizer on synthetic stick figures and report "
                                    "(about 2 minutes on 2 cores; --quick: about 10 seconds)")
    p.add_argument("--n-train", type=int, default=10000, help="training poses (default 10000)")
    p.add_argument("--n-test", type=int, default=2000, help="held-out poses (default 2000)")
    p.add_argument("--n-epochs", type=int, default=60, help="training epochs (default 60)")
    p.add_argument("--quick", action="store_true", help="2000 training poses and 10 epochs")
    p.add_argument("--out", type=Path, default=Path("posetok-demo"), help="output folder (default posetok-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed, 0 to 2**32 - 2 (default 0)")

    confidence = dict(type=float, default=0.0, metavar="C",
                      help="a joint is missing when its third value (COCO visibility, or an estimator's confidence) "
                           "is at most C (default 0: COCO's unlabelled joints)")
    progress = dict(action=argparse.BooleanOptionalAction, default=None,
                    help="a progress line on stderr (default: when stderr is a terminal)")
    p = sub.add_parser("tokenize", help="keypoints (COCO JSON, .npz, .csv) -> token ids, with no fit")
    p.add_argument("input", help="COCO results or annotation .json, .npz with 'keypoints', or .csv")
    p.add_argument("-o", "--output", required=True, help="token file: .npz, .json or .csv")
    p.add_argument("--model", default="coco17", help="a pretrained model name or a .posetok file (default coco17)")
    p.add_argument("--min-confidence", **confidence)
    p.add_argument("--boxes", choices=("auto", "use", "ignore"), default="auto",
                   help="person boxes of the input ('bbox'): frame each pose by its box; auto (default): when the "
                        "file has boxes and the model was fitted with them (coco17 was)")
    p.add_argument("--progress", **progress)

    p = sub.add_parser("decode", help="token ids -> keypoints (COCO results .json, .npz or .csv)")
    p.add_argument("input", help="a token file from posetok tokenize")
    p.add_argument("-o", "--output", required=True, help=".json (COCO results, 2-D), .npz or .csv")
    p.add_argument("--model", default=None, help="a pretrained model name or a .posetok file (default: the model "
                                                 "the .npz or .json token file names)")
    p.add_argument("--progress", **progress)

    p = sub.add_parser("fit", help="fit a tokenizer on a keypoint file and save it (.posetok)")
    p.add_argument("input", help="COCO .json, .npz with 'keypoints', .csv, or .npy (streamed from disk)")
    p.add_argument("-o", "--output", required=True, help="the model file to write, *.posetok")
    p.add_argument("--n-tokens", type=int, default=32)
    p.add_argument("--codebook-size", type=int, default=256)
    p.add_argument("--codebooks", choices=("shared", "per_token"), default="shared",
                   help="one codebook for every token position, or one per position")
    p.add_argument("--refinement-stages", type=int, default=0)
    p.add_argument("--refinement-codebook-size", type=int, default=256)
    p.add_argument("--normalize", choices=("dataset", "pose"), default="pose",
                   help="default pose: each pose framed by its own box, so any pixel scale works")
    p.add_argument("--mask-probability", type=float, default=0.3)
    p.add_argument("--rotation-range", type=float, default=0.0,
                   help="turn each training pose by a random angle up to this many degrees (0-180; default 0)")
    p.add_argument("--rotation-axis", type=int, default=None,
                   help="for 3-D poses with --rotation-range: the vertical axis turned about (1 y up, 2 z up)")
    p.add_argument("--boxes", action="store_true",
                   help="fit with the file's person boxes ('bbox'), so that tokenize can frame poses by them "
                        "(with --normalize pose)")
    p.add_argument("--n-epochs", type=int, default=60)
    p.add_argument("--n-dims", type=int, default=None, help="coordinates per joint of a flat .npz (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-confidence", **confidence)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--n-threads", type=int, default=None, help="torch threads (default: torch's setting)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = sub.add_parser("info", help="describe a model: sizes, bits, normalisation, training")
    p.add_argument("model", help="a pretrained model name or a .posetok file")
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("a command is required: demo, tokenize, decode, fit or info")
    if args.command == "demo":
        return _demo(parser, args)
    if getattr(args, "progress", False) is None:
        args.progress = sys.stderr.isatty()
    try:
        return {"tokenize": tokenize, "decode": decode, "fit": fit, "info": info}[args.command](args)
    except (CommandError, ValueError, TypeError, OSError) as exc:
        parser.exit(2, f"posetok {args.command}: error: {exc}\n")


def _demo(parser, args):
    if args.quick:
        args.n_train, args.n_epochs = 2000, 10
    if args.n_train < 1 or args.n_test < 1 or args.n_epochs < 1:
        parser.error("--n-train, --n-test and --n-epochs must be positive")
    if not 0 <= args.seed <= 2**32 - 2:  # the held-out set uses seed + 1, and seeds are 32-bit
        parser.error(f"--seed must be between 0 and {2**32 - 2}, got {args.seed}")
    problem = _output_folder(args.out)
    if problem:
        parser.error(problem)
    try:
        return demo(args.n_train, args.n_test, args.out, args.seed, args.n_epochs)
    except OSError as exc:
        print(f"posetok: error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
