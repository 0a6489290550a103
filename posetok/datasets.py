"""Synthetic stick-figure poses, in the spirit of scikit-learn's ``make_*`` generators."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "STICK_FIGURE_KEYPOINTS",
    "STICK_FIGURE_SKELETON",
    "STICK_FIGURE_CLASSES",
    "make_stick_figures",
    "make_stick_figures_3d",
    "render_stick_figures",
    "visibility_to_nan",
    "normalize_to_box",
]

STICK_FIGURE_KEYPOINTS = (
    "head", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_hand", "right_hand", "waist", "left_knee", "right_knee", "left_foot", "right_foot",
)  # fmt: skip
"""Names of the 13 stick-figure keypoints, in column order."""

STICK_FIGURE_SKELETON = np.array(
    [[0, 1], [1, 2], [1, 3], [2, 4], [4, 6], [3, 5], [5, 7],
     [1, 8], [8, 9], [9, 11], [8, 10], [10, 12]]
)  # fmt: skip
"""Limbs as pairs of 0-based keypoint indices."""

STICK_FIGURE_CLASSES = ("standing", "arms_raised", "t_pose", "squat", "kick", "wave")
"""Names of the pose families; ``y`` from :func:`make_stick_figures` indexes this tuple."""

# Limb angles in degrees, measured from straight down, positive away from the
# body's midline, per family: mean and spread of (upper arm, elbow bend,
# thigh, knee bend). Families overlap at their tails on purpose.
_FAMILIES = {
    "standing": dict(arm=(12, 10), elbow=(10, 12), thigh=(8, 5), knee=(0, 8)),
    "arms_raised": dict(arm=(155, 15), elbow=(10, 12), thigh=(8, 5), knee=(0, 8)),
    "t_pose": dict(arm=(90, 10), elbow=(5, 10), thigh=(10, 5), knee=(0, 8)),
    "squat": dict(arm=(70, 20), elbow=(30, 20), thigh=(75, 12), knee=(-110, 15)),
    "kick": dict(arm=(45, 20), elbow=(20, 15), thigh=(8, 5), knee=(0, 8)),
    "wave": dict(arm=(12, 10), elbow=(10, 12), thigh=(8, 5), knee=(0, 8)),
}
_LIMB_LENGTHS = dict(head=5.0, torso=14.0, shoulder=5.0, upper_arm=8.0, forearm=7.0, thigh=10.0, shin=10.0)


def _direction(angle_deg, side):
    """Unit vector for an angle from straight down; side -1 is the figure's right, +1 its left."""
    a = np.deg2rad(angle_deg)
    return np.stack([side * np.sin(a), -np.cos(a)], axis=-1)


def _limb_angles(family, n, rng):
    f = _FAMILIES[family]
    angles = {}
    for part in ("arm", "elbow", "thigh", "knee"):
        mean, spread = f[part]
        angles[part] = rng.normal(mean, spread, size=(n, 2))  # columns: left, right
    if family in ("kick", "wave"):
        side = rng.integers(0, 2, size=n)  # which limb acts
        rows = np.arange(n)
        if family == "kick":
            angles["thigh"][rows, side] = rng.normal(75, 15, size=n)
            angles["knee"][rows, side] = rng.normal(20, 15, size=n)
        else:
            angles["arm"][rows, side] = rng.normal(125, 15, size=n)
            angles["elbow"][rows, side] = rng.normal(60, 25, size=n)
    return angles


def _pose_from_angles(angles, lengths, lean):
    """Keypoints (n, 13, 2) in a body frame with the waist at the origin and y up."""
    n = len(lean)
    up = _direction(180 + lean, 1)  # torso direction, tilted by the lean
    side = np.stack([-up[:, 1], up[:, 0]], axis=-1)  # the figure's left, perpendicular to up
    kp = np.zeros((n, 13, 2))
    neck = lengths["torso"][:, None] * up
    kp[:, 1] = neck
    kp[:, 0] = neck + lengths["head"][:, None] * up
    for j, s in enumerate((1, -1)):  # left, right
        shoulder = neck + s * lengths["shoulder"][:, None] * side - 1.0 * up
        elbow = shoulder + lengths["upper_arm"][:, None] * _direction(angles["arm"][:, j] + lean, s)
        hand = elbow + lengths["forearm"][:, None] * _direction(
            angles["arm"][:, j] + angles["elbow"][:, j] + lean, s
        )
        knee = lengths["thigh"][:, None] * _direction(angles["thigh"][:, j], s)
        foot = knee + lengths["shin"][:, None] * _direction(angles["thigh"][:, j] + angles["knee"][:, j], s)
        kp[:, 2 + j], kp[:, 4 + j], kp[:, 6 + j] = shoulder, elbow, hand
        kp[:, 9 + j], kp[:, 11 + j] = knee, foot
    return kp


def make_stick_figures(
    n_samples=1000,
    *,
    rotation=30.0,
    noise=0.0,
    frame_size=64,
    return_images=False,
    random_state=None,
):
    """Generate 2-D stick-figure poses with 13 keypoints and a pose-family label.

    Each figure draws limb angles from one of six pose families
    (:data:`STICK_FIGURE_CLASSES`) within human joint limits, varies its limb
    lengths and scale slightly, leans its torso, rotates the whole figure and
    places it near the centre of a ``frame_size`` x ``frame_size`` pixel
    frame (x to the right, y down, as in images).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of poses.
    rotation : float, default=30.0
        Standard deviation, in degrees, of the random rotation of the whole figure.
    noise : float, default=0.0
        Standard deviation, in pixels, of independent jitter added to every keypoint.
    frame_size : int, default=64
        Side of the square pixel frame; body sizes scale with it (64 is the reference).
    return_images : bool, default=False
        Also return rendered images (see :func:`render_stick_figures`).
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, 26)
        Keypoints flattened as ``x0, y0, x1, y1, ...`` in pixels, in the order of
        :data:`STICK_FIGURE_KEYPOINTS`.
    y : ndarray of shape (n_samples,)
        Pose-family index into :data:`STICK_FIGURE_CLASSES`.
    images : ndarray of shape (n_samples, frame_size, frame_size)
        Only with ``return_images=True``.

    Examples
    --------
    >>> from posetok.datasets import make_stick_figures, STICK_FIGURE_CLASSES
    >>> X, y = make_stick_figures(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 26), (5,))
    >>> [STICK_FIGURE_CLASSES[i] for i in y[:2]]
    ['kick', 'wave']
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not frame_size > 0:
        raise ValueError(f"frame_size must be positive, got {frame_size!r}")
    rng = check_random_state(random_state)
    n_classes = len(STICK_FIGURE_CLASSES)
    y = rng.randint(n_classes, size=n_samples)
    family_rng = np.random.default_rng(rng.randint(2**31))
    kp = np.empty((n_samples, 13, 2))
    for label, family in enumerate(STICK_FIGURE_CLASSES):
        rows = np.flatnonzero(y == label)
        if len(rows) == 0:
            continue
        angles = _limb_angles(family, len(rows), family_rng)
        lengths = {k: v * family_rng.normal(1.0, 0.04, size=len(rows)) for k, v in _LIMB_LENGTHS.items()}
        lean = family_rng.normal(0, 5, size=len(rows))
        kp[rows] = _pose_from_angles(angles, lengths, lean)
    theta = np.deg2rad(family_rng.normal(0, rotation, size=n_samples))
    rot = np.stack([np.stack([np.cos(theta), -np.sin(theta)], -1), np.stack([np.sin(theta), np.cos(theta)], -1)], -2)
    kp = np.einsum("nij,nkj->nki", rot, kp - kp.mean(1, keepdims=True))
    scale = family_rng.normal(1.0, 0.05, size=(n_samples, 1, 1)) * frame_size / 64
    shift = family_rng.normal(0, 1.5, size=(n_samples, 1, 2))
    kp = kp * scale + shift + noise * family_rng.standard_normal(kp.shape)
    kp[..., 1] *= -1  # body frame is y-up, images are y-down
    kp += frame_size / 2
    X = kp.reshape(n_samples, -1)
    if return_images:
        return X, y, render_stick_figures(X, frame_size=frame_size)
    return X, y


# The 3-D families: mean and spread, in degrees, of each limb's abduction (away from the
# body's midline in the frontal plane, as the 2-D angles) and flexion (forward swing).
# Forearm and shin angles are added to those of upper arm and thigh; a knee bends back
# (negative flexion). "lean" tilts the upper body forward.
_FAMILIES_3D = {
    "standing": dict(arm=(12, 10), arm_flex=(0, 12), elbow=(10, 12), elbow_flex=(10, 10),
                     thigh=(8, 5), thigh_flex=(0, 8), knee_flex=(-5, 5), lean=(0, 5)),
    "arms_raised": dict(arm=(155, 15), arm_flex=(0, 15), elbow=(10, 12), elbow_flex=(5, 10),
                        thigh=(8, 5), thigh_flex=(0, 8), knee_flex=(-5, 5), lean=(0, 5)),
    "t_pose": dict(arm=(90, 10), arm_flex=(0, 10), elbow=(5, 10), elbow_flex=(5, 10),
                   thigh=(10, 5), thigh_flex=(0, 8), knee_flex=(-5, 5), lean=(0, 5)),
    "squat": dict(arm=(15, 10), arm_flex=(80, 15), elbow=(5, 10), elbow_flex=(10, 15),
                  thigh=(20, 8), thigh_flex=(80, 12), knee_flex=(-110, 15), lean=(20, 8)),
    "kick": dict(arm=(45, 20), arm_flex=(0, 20), elbow=(20, 15), elbow_flex=(10, 15),
                 thigh=(8, 5), thigh_flex=(0, 8), knee_flex=(-5, 5), lean=(-5, 5)),
    "wave": dict(arm=(12, 10), arm_flex=(0, 12), elbow=(10, 12), elbow_flex=(10, 10),
                 thigh=(8, 5), thigh_flex=(0, 8), knee_flex=(-5, 5), lean=(0, 5)),
}


def _direction_3d(abduction_deg, flexion_deg, side):
    """Unit vectors (x: the figure's left, y: up, z: forward) from straight down by abduction and
    flexion; side -1 is the figure's right, +1 its left."""
    a, f = np.deg2rad(abduction_deg), np.deg2rad(flexion_deg)
    return np.stack([side * np.sin(a) * np.cos(f), -np.cos(a) * np.cos(f), np.sin(f)], axis=-1)


def _rotation(axis, angle):
    """Rotation matrices (n, 3, 3) by ``angle`` (n,) radians about unit ``axis`` (n, 3) (Rodrigues)."""
    k = np.zeros((len(angle), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * k @ k


def _pose_3d(family, lengths, rng):
    """Keypoints (n, 13, 3) of one family in the body frame: waist at the origin, y up, facing +z."""
    f = _FAMILIES_3D[family]
    n = len(lengths["torso"])
    angle = {part: rng.normal(*f[part], size=(n, 2)) for part in f if part != "lean"}
    if family in ("kick", "wave"):
        side, rows = rng.integers(0, 2, size=n), np.arange(n)
        if family == "kick":
            angle["thigh_flex"][rows, side] = rng.normal(75, 15, size=n)
            angle["knee_flex"][rows, side] = rng.normal(-20, 15, size=n)
        else:
            angle["arm"][rows, side] = rng.normal(125, 15, size=n)
            angle["elbow"][rows, side] = rng.normal(60, 25, size=n)
    up, left = np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])
    kp = np.zeros((n, 13, 3))
    neck = lengths["torso"][:, None] * up
    kp[:, 1], kp[:, 0] = neck, neck + lengths["head"][:, None] * up
    for j, s in enumerate((1, -1)):  # left, right
        shoulder = neck + s * lengths["shoulder"][:, None] * left - 1.0 * up
        elbow = shoulder + lengths["upper_arm"][:, None] * _direction_3d(angle["arm"][:, j], angle["arm_flex"][:, j], s)
        hand = elbow + lengths["forearm"][:, None] * _direction_3d(
            angle["arm"][:, j] + angle["elbow"][:, j], angle["arm_flex"][:, j] + angle["elbow_flex"][:, j], s
        )
        knee = lengths["thigh"][:, None] * _direction_3d(angle["thigh"][:, j], angle["thigh_flex"][:, j], s)
        foot = knee + lengths["shin"][:, None] * _direction_3d(
            angle["thigh"][:, j], angle["thigh_flex"][:, j] + angle["knee_flex"][:, j], s
        )
        kp[:, 2 + j], kp[:, 4 + j], kp[:, 6 + j] = shoulder, elbow, hand
        kp[:, 9 + j], kp[:, 11 + j] = knee, foot
    # the upper body leans about the waist: forward by the family's lean, sideways a little
    lean = _rotation(np.tile(left, (n, 1)), np.deg2rad(rng.normal(*f["lean"], size=n)))
    lean = lean @ _rotation(np.tile([0.0, 0.0, 1.0], (n, 1)), np.deg2rad(rng.normal(0, 5, size=n)))
    upper = [0, 1, 2, 3, 4, 5, 6, 7]
    kp[:, upper] = np.einsum("nij,nkj->nki", lean, kp[:, upper])
    return kp


def make_stick_figures_3d(
    n_samples=1000,
    *,
    height=1.7,
    proportions=0.08,
    tilt=10.0,
    noise=0.0,
    random_state=None,
):
    """Generate 3-D stick-figure poses with 13 joints (x, y, z) and a pose-family label.

    The 3-D counterpart of :func:`make_stick_figures`, with the same joints
    (:data:`STICK_FIGURE_KEYPOINTS`) and pose families
    (:data:`STICK_FIGURE_CLASSES`). Each limb has an abduction angle (sideways,
    as in the 2-D generator) and a flexion angle (forward), drawn from the
    family within human joint limits: a squat bends the knees forward and the
    arms reach ahead, a kick swings one leg forward, a wave raises one arm
    sideways. Each figure has its own body proportions (every limb length
    varies on its own) and size, leans its upper body, and is turned to a
    random direction about the vertical axis (every camera direction) and
    tilted slightly about a random horizontal axis.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of poses.
    height : float, default=1.7
        Mean standing height (head to foot); the units of X (metres by default).
    proportions : float, default=0.08
        Relative standard deviation of each limb length (and 5 % for the whole body).
    tilt : float, default=10.0
        Standard deviation, in degrees, of the tilt about a random horizontal axis.
    noise : float, default=0.0
        Standard deviation of independent jitter added to every coordinate, in the units of X.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, 13, 3)
        Joint positions, y up, near the origin. ``PoseTokenizer().fit(X)``
        reads the third axis as ``n_dims=3``.
    y : ndarray of shape (n_samples,)
        Pose-family index into :data:`STICK_FIGURE_CLASSES`.

    Examples
    --------
    >>> from posetok.datasets import make_stick_figures_3d
    >>> X, y = make_stick_figures_3d(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 13, 3), (5,))
    >>> head, foot = X[:, 0], X[:, 11]
    >>> bool(((head - foot)[:, 1] > 1.0).all())    # heads are above feet, in metres
    True
    """
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    for name, value in (("height", height), ("proportions", proportions), ("tilt", tilt), ("noise", noise)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and non-negative, got {value!r}")
    if not height > 0:
        raise ValueError(f"height must be positive, got {height!r}")
    rng = check_random_state(random_state)
    y = rng.randint(len(STICK_FIGURE_CLASSES), size=n_samples)
    family_rng = np.random.default_rng(rng.randint(2**31))
    unit = height / sum(_LIMB_LENGTHS[k] for k in ("head", "torso", "thigh", "shin"))
    size = family_rng.normal(1.0, 0.05, size=n_samples).clip(0.5) * unit
    kp = np.empty((n_samples, 13, 3))
    for label, family in enumerate(STICK_FIGURE_CLASSES):
        rows = np.flatnonzero(y == label)
        if len(rows) == 0:
            continue
        lengths = {k: v * size[rows] * family_rng.normal(1.0, proportions, size=len(rows)).clip(0.5)
                   for k, v in _LIMB_LENGTHS.items()}
        kp[rows] = _pose_3d(family, lengths, family_rng)
    yaw = _rotation(np.tile([0.0, 1.0, 0.0], (n_samples, 1)), family_rng.uniform(0, 2 * np.pi, n_samples))
    axis = np.stack([np.cos(a := family_rng.uniform(0, 2 * np.pi, n_samples)), np.zeros(n_samples), np.sin(a)], -1)
    rot = _rotation(axis, np.deg2rad(family_rng.normal(0, tilt, n_samples))) @ yaw
    kp = np.einsum("nij,nkj->nki", rot, kp - kp.mean(1, keepdims=True))
    kp += family_rng.normal(0, 0.1 * height, size=(n_samples, 1, 3))
    return kp + noise * family_rng.standard_normal(kp.shape), y


def render_stick_figures(X, *, frame_size=64, joint_radius=1.0, limb_radius=5.0):
    """Render stick figures into grey images: limbs 0.5, joints 1.0, background 0.

    Parameters
    ----------
    X : array-like of shape (n_samples, 26)
        Keypoints as returned by :func:`make_stick_figures`.
    frame_size : int, default=64
        Side of the square image in pixels.
    joint_radius, limb_radius : float, default=1.0 and 5.0
        Radii in pixels of the drawn joints and limbs (the reference's values).

    Returns
    -------
    images : ndarray of shape (n_samples, frame_size, frame_size)

    Examples
    --------
    >>> from posetok.datasets import make_stick_figures, render_stick_figures
    >>> X, _ = make_stick_figures(2, random_state=0)
    >>> render_stick_figures(X).shape
    (2, 64, 64)
    """
    kp = np.asarray(X, dtype=float).reshape(len(X), -1, 2)
    grid = np.stack(np.meshgrid(np.arange(frame_size), np.arange(frame_size), indexing="xy"), -1) + 0.5
    images = np.zeros((len(kp), frame_size, frame_size))
    for a, b in STICK_FIGURE_SKELETON:
        p, q = kp[:, a, None, None, :], kp[:, b, None, None, :]
        d = q - p
        t = np.clip(((grid - p) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
        dist = np.linalg.norm(grid - (p + t[..., None] * d), axis=-1)
        images = np.maximum(images, 0.5 * (dist <= limb_radius))
    for j in range(kp.shape[1]):
        dist = np.linalg.norm(grid - kp[:, j, None, None, :], axis=-1)
        images = np.maximum(images, 1.0 * (dist <= joint_radius))
    return images


def visibility_to_nan(keypoints, visibility, *, min_visibility=1):
    """Keypoints with unlabelled joints set to NaN, from COCO-style visibility flags.

    Parameters
    ----------
    keypoints : array-like of shape (n_samples, n_keypoints, 2) or (n_samples, 2 * n_keypoints)
    visibility : array-like of shape (n_samples, n_keypoints)
        COCO's codes: 0 not labelled, 1 labelled but occluded, 2 visible.
    min_visibility : int, default=1
        Joints with a flag below this become NaN. Use 2 to keep only visible
        joints; use 1 with Penn Action's 0/1 flags to drop its invisible joints.

    Returns
    -------
    X : ndarray of shape (n_samples, 2 * n_keypoints)
        A new float array; the input is not modified.

    Examples
    --------
    >>> visibility_to_nan([[[1, 2], [0, 0]]], [[2, 0]])
    array([[ 1.,  2., nan, nan]])
    """
    kp = np.array(keypoints, dtype=float)
    vis = np.asarray(visibility)
    kp = kp.reshape(len(kp), -1, 2)
    if vis.shape != kp.shape[:2]:
        raise ValueError(f"visibility must have shape {kp.shape[:2]} (one flag per joint), got {vis.shape}")
    kp[vis < min_visibility] = np.nan
    return kp.reshape(len(kp), -1)


def normalize_to_box(keypoints, bbox, *, padding=1.25, aspect_ratio=0.75):
    """Express keypoints relative to their person box, as the official PCT tokenizer does.

    The centre is the box centre; the scale is ``padding * max(w, h / aspect_ratio)``
    (the box grown to the 4:3 crop and padded by 1.25), so a normalised pose
    lies within [-0.5, 0.5]. This is the normalisation of
    ``shared/reference/coco-baselines.md``.

    Parameters
    ----------
    keypoints : array-like of shape (n_samples, 2 * n_keypoints) or (n_samples, n_keypoints, 2)
    bbox : array-like of shape (n_samples, 4)
        COCO boxes ``x, y, width, height``.
    padding : float, default=1.25
    aspect_ratio : float, default=0.75

    Returns
    -------
    X : ndarray of shape (n_samples, 2 * n_keypoints)
        Normalised keypoints: ``(keypoint - centre) / scale``.
    centre : ndarray of shape (n_samples, 2)
    scale : ndarray of shape (n_samples,)
        Multiply by ``scale`` and add ``centre`` to go back to pixels.

    Examples
    --------
    >>> X, c, s = normalize_to_box([[40, 35, 70, 50]], [[10, 20, 60, 30]])
    >>> X, c, s
    (array([[0. , 0. , 0.4, 0.2]]), array([[40., 35.]]), array([75.]))
    """
    kp = np.asarray(keypoints, dtype=float)
    kp = kp.reshape(len(kp), -1, 2)
    bbox = np.asarray(bbox, dtype=float)
    if bbox.shape != (len(kp), 4):
        raise ValueError(f"bbox must have shape ({len(kp)}, 4) as x, y, width, height; got {bbox.shape}")
    centre = bbox[:, :2] + bbox[:, 2:] / 2
    scale = padding * np.maximum(bbox[:, 2], bbox[:, 3] / aspect_ratio)
    if not (scale > 0).all():
        raise ValueError("every box needs a positive width or height")
    X = (kp - centre[:, None]) / scale[:, None, None]
    return X.reshape(len(kp), -1), centre, scale
