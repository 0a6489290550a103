"""Pretrained tokenizers shipped inside the package: :func:`pretrained`.

Each is a fitted :class:`~posetok.PoseTokenizer` in the safe ``.posetok`` format
(no code runs on loading), stored beside this module in ``posetok/models``;
nothing is downloaded. ``posetok.pretrained`` is :func:`pretrained`.
Model cards (training data and licence, the command and commit that trained the
model, its measured quality, intended use and limits) are in ``docs/models/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

__all__ = ["pretrained", "available_models", "MODELS"]


@dataclass(frozen=True)
class PretrainedModel:
    """A shipped model: its file in ``posetok/models``, what it is for, and how it was fitted."""

    file: str
    summary: str
    params: dict = field(default_factory=dict)  # PoseTokenizer parameters it was fitted with
    boxes: bool = False  # fitted with the COCO person boxes (fit(X, boxes=...)), so boxes= helps it


# Both take COCO-17 keypoints in image pixels (any scale; unlabelled or missed joints NaN):
# normalize="pose" frames each pose by the box around its observed joints (coco17: by the
# person box where one is given, boxes=), and masked training (as PoseImputer's default)
# teaches the encoder to work with missing joints.
MODELS = {
    "coco17": PretrainedModel(
        "coco17.posetok",
        "COCO-17 keypoints in pixels, with person boxes where known; 32 tokens x 256 codes (256 bits). "
        "For classifier features (encode='latent'), token sequences and filling missed joints",
        dict(normalize="pose", mask_probability=0.3, encoder_depth=4),
        boxes=True,
    ),
    "coco17-compact": PretrainedModel(
        "coco17-compact.posetok",
        "COCO-17 keypoints in pixels; 2 tokens + 2 refinement stages of 128 codes per joint "
        "(254 bits). For compression: the most faithful reconstruction per bit",
        dict(n_tokens=2, refinement_stages=2, refinement_codebook_size=128, normalize="pose",
             mask_probability=0.3),
    ),
}
"""The shipped models by name."""


def available_models() -> dict[str, str]:
    """Names of the shipped models, each with what it is for.

    Examples
    --------
    >>> sorted(available_models())
    ['coco17', 'coco17-compact']
    """
    return {name: model.summary for name, model in MODELS.items()}


def pretrained(name="coco17"):
    """Load a pretrained tokenizer shipped with posetok.

    Parameters
    ----------
    name : str, default="coco17"
        One of :func:`available_models`: ``"coco17"`` (tokens for classifiers
        and imputation) or ``"coco17-compact"`` (compression).

    Returns
    -------
    tokenizer : PoseTokenizer
        Fitted, on the CPU. It takes COCO-17 keypoints (nose, eyes, ears,
        shoulders, elbows, wrists, hips, knees, ankles, in COCO's order) in
        image pixels, ``(n, 34)`` or ``(n, 17, 2)``, missing joints NaN.
        With ``normalize="pose"``, :meth:`~posetok.PoseTokenizer.inverse_transform`
        answers in each pose's frame; ``posetok.normalization.frame(X, "pose", 2)``
        gives the centre and size, and ``posetok.normalization.unframe`` maps it
        back to X's pixels with them. ``coco17`` was fitted with person boxes
        (``fitted_with_boxes_``): pass ``boxes=`` (COCO ``x, y, w, h``) to
        ``transform`` and ``inverse_transform`` (which then answers in pixels)
        where you have them.

    Examples
    --------
    >>> import numpy as np
    >>> from posetok import pretrained
    >>> tok = pretrained("coco17")
    >>> tok.n_keypoints_, tok.n_dims_, tok.bits_per_pose_
    (17, 2, 256.0)
    >>> person = np.array([[320, 100], [325, 95], [315, 95], [332, 98], [308, 98],
    ...                    [345, 140], [295, 140], [360, 185], [280, 185], [365, 230],
    ...                    [275, 230], [335, 235], [305, 235], [337, 300], [303, 300],
    ...                    [338, 365], [302, 365]], dtype=float)        # pixels
    >>> small = (person - 320) * 0.25 + 40                               # the same pose, 4x smaller
    >>> bool((tok.transform(person[None]) == tok.transform(small[None])).all())
    True
    """
    from ..tokenizer import PoseTokenizer

    if name not in MODELS:
        raise ValueError(f"no pretrained model {name!r}; available: {sorted(MODELS)}")
    path = resources.files(__name__) / MODELS[name].file
    with resources.as_file(path) as file:
        if not file.exists():
            raise FileNotFoundError(
                f"the pretrained model file {MODELS[name].file} is missing from this installation of posetok "
                "(posetok/models); reinstall posetok"
            )
        return PoseTokenizer.load(file)
