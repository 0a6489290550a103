"""Video-level features from per-frame tokens.

A video is a sequence of poses, so the video-level estimators here take X as
a *sequence of videos*: a list whose item i is an array of shape
(n_frames_i, n_features) for video i, and y with one label per video.
:func:`split_by_group` builds that list from per-frame rows and a group
(video id) per row. Then::

    make_pipeline(PerFrame(PoseTokenizer()), BagOfTokens(), LogisticRegression())

fits the tokenizer on all frames, turns each video into token-count
frequencies and classifies videos. The recommended video descriptor keeps the
geometry of the tokens of every frame (from two tokenizers that differ only in their seed)
and of every 8-frame window (motion tokens) instead, and cannot tell left from right
(:class:`posetok.symmetry.MirrorSymmetric`)::

    pool = TemporalPool(stats=("mean", "std", "max", "min"))
    per_frame = lambda seed: make_pipeline(PerFrame(PoseTokenizer(encode="latent", random_state=seed)), pool)
    make_pipeline(MirrorSymmetric(make_union(per_frame(0), per_frame(1000), make_pipeline(MotionTokenizer(), pool)),
                                  flip_pairs),
                  StandardScaler(), LogisticRegressionCV())

(the user guide's "Per-pose normalisation and video-level features" and docs/benchmarks.md's "Classification" say why).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["split_by_group", "PerFrame", "MotionTokenizer", "BagOfTokens", "MeanPool", "TemporalPool"]


def split_by_group(X, groups, y=None):
    """Split per-frame rows into one array per group, in order of first appearance.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features)
    groups : array-like of shape (n_frames,)
        The video (or any sequence) each frame belongs to.
    y : array-like of shape (n_frames,), default=None
        Per-frame labels; each group must have a single label.

    Returns
    -------
    sequences : list of ndarray
        ``sequences[i]`` holds the frames of group ``group_ids[i]``, in their order in X.
    group_ids : ndarray
    y_groups : ndarray
        One label per group (only when ``y`` is given).

    Examples
    --------
    >>> seqs, ids, labels = split_by_group([[1], [2], [3]], groups=[7, 5, 7], y=["a", "b", "a"])
    >>> [s.ravel().tolist() for s in seqs], ids.tolist(), labels.tolist()
    ([[1, 3], [2]], [7, 5], ['a', 'b'])
    """
    X = np.asarray(X)
    groups = np.asarray(groups)
    if len(groups) != len(X):
        raise ValueError(f"groups has {len(groups)} entries for {len(X)} rows of X")
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError(f"groups holds NaN (row {np.flatnonzero(np.isnan(groups))[0]}); every frame needs a video id")
    if groups.dtype.kind == "O" and any(g is None or (isinstance(g, float) and g != g) for g in groups):
        raise ValueError("groups holds None or NaN; every frame needs a video id")
    ids, first = np.unique(groups, return_index=True)
    ids = ids[np.argsort(first)]
    rows = [np.flatnonzero(groups == g) for g in ids]
    sequences = [X[r] for r in rows]
    if y is None:
        return sequences, ids
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} entries for {len(X)} rows of X")
    labels = []
    for g, r in zip(ids, rows):
        values = np.unique(y[r])
        if len(values) != 1:
            raise ValueError(f"group {g!r} has {len(values)} different labels; a sequence needs one")
        labels.append(values[0])
    return sequences, ids, np.asarray(labels)


def _check_sequences(X, name="X", keypoint_arrays=False):
    """The videos of X as arrays of frames; with ``keypoint_arrays`` (frames for a frame-level
    transformer), frames may also be (n_keypoints, n_dims) arrays, and every video's frames
    must have the same shape."""
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 2:
        raise TypeError(
            f"{name} must be a sequence of videos (a list of 2-D arrays, one per video), got one "
            "2-D array; use posetok.video.split_by_group(X, groups) to split frames by video"
        )
    if len(X) == 0:
        raise ValueError(f"{name} holds no video")
    seqs = []
    for i, s in enumerate(X):
        a = np.asarray(s)
        if not (a.ndim == 2 or keypoint_arrays and a.ndim == 3) or len(a) == 0:
            shapes = "2-D array of frames, or a 3-D array (n_frames, n_keypoints, n_dims)" if keypoint_arrays \
                else "2-D array of frames"
            raise ValueError(f"video {i} of {name} must be a non-empty {shapes}, got shape {a.shape}")
        if keypoint_arrays and seqs and a.ndim == seqs[0].ndim and a.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(f"video {i} of {name} has frames of shape {a.shape[1:]}, video 0 of "
                             f"{seqs[0].shape[1:]}; every frame needs the same keypoints")
        seqs.append(a)
    if keypoint_arrays and len({a.ndim for a in seqs}) > 1:
        raise ValueError(f"the videos of {name} mix flat frames and (n_keypoints, n_dims) frames; use one layout")
    return seqs


def _token_ids(video, i):
    """One video's token ids as int64; floats must be whole numbers (no silent truncation)."""
    a = np.asarray(video)
    if a.dtype.kind == "f":
        if not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
            raise ValueError(f"video {i} holds token ids that are not whole numbers")
    elif a.dtype.kind not in "iu":
        raise TypeError(f"video {i} must hold integer token ids, got dtype {a.dtype}")
    return check_array(a, dtype=np.int64)


def _split_rows(out, lengths):
    """Rows of a transformer's output (array, DataFrame or sparse matrix) back into one block per video."""
    ends = np.cumsum(lengths)
    if sp.issparse(out):
        out = out.tocsr()
    elif not hasattr(out, "iloc"):
        out = np.asarray(out)
    return [out.iloc[e - n:e] if hasattr(out, "iloc") else out[e - n:e] for n, e in zip(lengths, ends)]


class PerFrame(TransformerMixin, BaseEstimator):
    """Apply a per-frame transformer to every video of a sequence of videos.

    ``fit`` fits a clone of ``transformer`` on the frames of all videos
    together; ``transform`` returns a list with the transformed frames of each
    video.

    Parameters
    ----------
    transformer : estimator
        A frame-level transformer, e.g. :class:`~posetok.PoseTokenizer`.

    Attributes
    ----------
    transformer_ : estimator
        The fitted clone.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> videos = [np.array([[0.0], [2.0]]), np.array([[4.0]])]
    >>> [v.ravel().tolist() for v in PerFrame(StandardScaler()).fit_transform(videos)]
    [[-1.224744871391589, 0.0], [1.224744871391589]]
    """

    def __init__(self, transformer):
        self.transformer = transformer

    def fit(self, X, y=None):
        """Fit the transformer on all frames of all videos.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features) or (n_frames_i, n_keypoints, n_dims)
            The videos; frames of keypoints (2-D or 3-D) as the frame-level
            transformer takes them, the same shape in every video.
        y : ignored

        Returns
        -------
        self : PerFrame
        """
        seqs = _check_sequences(X, keypoint_arrays=True)
        # y is per video, not per frame, so the frame-level transformer is fitted without it
        self.transformer_ = clone(self.transformer).fit(np.concatenate(seqs), None)
        return self

    def transform(self, X):
        """Transform the frames of each video.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features) or (n_frames_i, n_keypoints, n_dims)

        Returns
        -------
        Xt : list of ndarray, sparse matrix or DataFrame
            One block of rows per video, of the transformer's output type.
        """
        check_is_fitted(self)
        seqs = _check_sequences(X, keypoint_arrays=True)
        return _split_rows(self.transformer_.transform(np.concatenate(seqs)), [len(s) for s in seqs])


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


class MotionTokenizer(TransformerMixin, BaseEstimator):
    """Tokens of short windows of frames: a pose tokenizer over stacked frames.

    A window of ``window`` frames, ``dilation`` frames apart, is one "pose"
    whose keypoints are those of its frames one after another (``window *
    n_keypoints`` keypoints). A clone of ``tokenizer`` is fitted on such
    windows, so each token codes a piece of motion instead of a still pose, as
    motion VQ-VAEs (T2M-GPT, MoMask) do with temporal convolutions; here the
    compositional encoder sees the whole window at once. ``transform`` gives,
    for every video, the tokenizer's output for each window, one window per
    frame (stride 1), ready for :class:`TemporalPool`.

    Missing joints (NaN) are handled by the tokenizer, as in single frames. A
    video shorter than a window is padded by repeating its last frame.

    Parameters
    ----------
    tokenizer : estimator, default=None
        The window-level tokenizer; ``None`` means
        ``PoseTokenizer(encode="latent")``, the output measured best for
        classifiers (docs/benchmarks.md). Any :class:`~posetok.PoseTokenizer`
        configuration works, including other ``encode`` values.
    window : int, default=8
        Frames per window.
    dilation : int, default=1
        Frames between two consecutive frames of a window; a window spans
        ``(window - 1) * dilation + 1`` frames.
    fit_stride : int, default=2
        Fit on every ``fit_stride``-th window of each video (consecutive
        windows overlap almost entirely); ``transform`` always uses every
        window.

    Attributes
    ----------
    tokenizer_ : estimator
        The fitted clone of ``tokenizer``.
    frame_shape_ : tuple of int
        The shape of one frame seen in fit: ``(n_features,)`` for flat
        frames, ``(n_keypoints, n_dims)`` otherwise.

    See Also
    --------
    PerFrame : A tokenizer (or any transformer) applied to single frames.
    TemporalPool : Pools the per-window outputs into one row per video.

    Examples
    --------
    >>> import numpy as np
    >>> from posetok import PoseTokenizer
    >>> rng = np.random.default_rng(0)
    >>> videos = [rng.normal(size=(40, 13, 2)).cumsum(0) for _ in range(10)]
    >>> motion = MotionTokenizer(PoseTokenizer(n_tokens=4, codebook_size=8, n_epochs=2,
    ...                                        random_state=0), window=4).fit(videos)
    >>> ids = motion.transform(videos)
    >>> len(ids), ids[0].shape                  # one row of 4 token ids per window
    (10, (37, 4))
    >>> motion.inverse_transform(ids)[0].shape  # frames back, overlapping windows averaged
    (40, 13, 2)
    """

    def __init__(self, tokenizer=None, *, window=8, dilation=1, fit_stride=2):
        self.tokenizer = tokenizer
        self.window = window
        self.dilation = dilation
        self.fit_stride = fit_stride

    def _span(self):
        window = _check_positive_int(self.window, "window")
        dilation = _check_positive_int(self.dilation, "dilation")
        return window, dilation, (window - 1) * dilation + 1

    def _windows(self, video, stride=1):
        """The windows of one video as rows of ``window * n_keypoints`` keypoints."""
        window, dilation, span = self._span()
        v = np.asarray(video, dtype=np.float64)
        if len(v) < span:
            v = np.concatenate([v, np.repeat(v[-1:], span - len(v), axis=0)])
        starts = np.arange(0, len(v) - span + 1, stride)
        frames = v[starts[:, None] + dilation * np.arange(window)[None]]  # (n_windows, window, *frame)
        if v.ndim == 2:
            return frames.reshape(len(starts), -1)
        return frames.reshape(len(starts), window * v.shape[1], v.shape[2])

    def _sequences(self, X, frame_shape=None):
        """The videos of X, whose frames must have ``frame_shape`` when it is given."""
        seqs = _check_sequences(X, keypoint_arrays=True)
        if frame_shape is not None and seqs[0].shape[1:] != frame_shape:
            raise ValueError(f"the videos have frames of shape {seqs[0].shape[1:]}, but this MotionTokenizer "
                             f"was fitted on frames of shape {frame_shape}")
        return seqs

    def fit(self, X, y=None):
        """Fit the tokenizer on the windows of all videos.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features) or (n_frames_i, n_keypoints, n_dims)
            The videos, as the frame-level tokenizer takes single frames.
        y : ignored
            Labels are per video, not per window; the tokenizer is fitted without them.

        Returns
        -------
        self : MotionTokenizer
        """
        from .tokenizer import PoseTokenizer

        stride = _check_positive_int(self.fit_stride, "fit_stride")
        self._span()
        seqs = self._sequences(X)
        windows = np.concatenate([self._windows(s, stride) for s in seqs])
        base = PoseTokenizer(encode="latent") if self.tokenizer is None else self.tokenizer
        self.tokenizer_ = clone(base).fit(windows)
        self.frame_shape_ = seqs[0].shape[1:]
        return self

    def transform(self, X):
        """The tokenizer's output for every window (stride 1) of each video.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features) or (n_frames_i, n_keypoints, n_dims)

        Returns
        -------
        Xt : list of ndarray or sparse matrix
            One per video, one row per window: ``max(1, n_frames_i - span + 1)``
            rows, where ``span = (window - 1) * dilation + 1``.
        """
        check_is_fitted(self)
        seqs = self._sequences(X, self.frame_shape_)
        windows = [self._windows(s) for s in seqs]
        return _split_rows(self.tokenizer_.transform(np.concatenate(windows)), [len(w) for w in windows])

    def inverse_transform(self, X):
        """Frames back from the windows' tokens; a frame in several windows gets their mean.

        Parameters
        ----------
        X : sequence of array-like
            One item per video, as :meth:`transform` returns it (any encoding
            the tokenizer can invert).

        Returns
        -------
        videos : list of ndarray
            Per video, ``n_windows + span - 1`` frames of ``frame_shape_``
            (a video padded in :meth:`transform` comes back at its padded length;
            a frame that lies in no window, possible only with fewer windows
            than ``dilation``, is NaN).
        """
        check_is_fitted(self)
        window, dilation, span = self._span()
        if len(X) == 0:
            raise ValueError("X holds no video")
        lengths = [np.shape(v)[0] for v in X]
        if min(lengths) == 0:
            raise ValueError(f"video {lengths.index(0)} of X has no window")
        stacked = sp.vstack(X) if any(sp.issparse(v) for v in X) else np.concatenate([np.asarray(v) for v in X])
        poses = np.asarray(self.tokenizer_.inverse_transform(stacked), dtype=np.float64)
        poses = poses.reshape(len(poses), window, *self.frame_shape_)
        videos, start = [], 0
        for n in lengths:
            total = np.zeros((n + span - 1, *self.frame_shape_))
            count = np.zeros(n + span - 1)
            for k in range(window):
                total[k * dilation:k * dilation + n] += poses[start:start + n, k]
                count[k * dilation:k * dilation + n] += 1
            count = count.reshape(-1, *([1] * len(self.frame_shape_)))
            # with fewer windows than dilation, some frames fall between a window's frames: NaN
            videos.append(np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0))
            start += n
        return videos


class BagOfTokens(TransformerMixin, BaseEstimator):
    """A fixed-length descriptor of a token sequence: how often each token occurs.

    Each video becomes its token counts divided by its number of frames; with
    ``by_position`` every token position then holds a distribution over codes.
    With ``ngram_range`` reaching 2 or more it also counts short runs of
    consecutive frames (n-grams of the ids at one token position), which keeps
    some of the motion that a bag of single frames loses.

    Parameters
    ----------
    codebook_size : int or None, default=None
        Number of possible token ids. None takes ``max id + 1`` seen in fit;
        pass the tokenizer's ``codebook_size`` so that ids unseen in fit are valid.
    by_position : bool, default=True
        Count (token position, id) pairs, so that token 3 = id 17 and token
        5 = id 17 are different words. Token positions mix different joints,
        so this is usually what you want. False counts ids over all positions.
    tfidf : bool, default=False
        Weight the frequencies by inverse document frequency (scikit-learn's
        :class:`~sklearn.feature_extraction.text.TfidfTransformer`, which also
        L2-normalises each row).
    ngram_range : tuple (min_n, max_n), default=(1, 1)
        Lengths of the runs of consecutive frames to count, as in scikit-learn's
        ``CountVectorizer``: (1, 1) counts single ids, (1, 2) adds pairs
        (id at frame t, id at frame t + 1) of the same token position. Unigrams
        use every possible id; n-grams of length 2 or more use the vocabulary
        seen in fit (n-grams first seen in transform are ignored). Each length
        is divided by the number of its windows in the video, so that videos of
        any length compare.

    Attributes
    ----------
    n_tokens_ : int
        Tokens per frame seen in fit.
    codebook_size_ : int
    vocabulary_ : dict of int to ndarray
        For each n-gram length n >= 2 in ``ngram_range``, the sorted integer keys
        of the n-grams seen in fit (one output column each).
    tfidf_ : TfidfTransformer or None

    Examples
    --------
    >>> import numpy as np
    >>> videos = [np.array([[0, 1], [0, 2]]), np.array([[2, 2]])]
    >>> BagOfTokens(codebook_size=3, by_position=False).fit_transform(videos).toarray()
    array([[1. , 0.5, 0.5],
           [0. , 0. , 2. ]])

    Bigrams of one token position: the first video goes 0 -> 1 -> 1, the second 1 -> 0.

    >>> videos = [np.array([[0], [1], [1]]), np.array([[1], [0]])]
    >>> bag = BagOfTokens(codebook_size=2, ngram_range=(2, 2)).fit(videos)
    >>> bag.transform(videos).toarray()  # columns: 0->1, 1->0, 1->1
    array([[0.5, 0. , 0.5],
           [0. , 1. , 0. ]])
    """

    def __init__(self, codebook_size=None, *, by_position=True, tfidf=False, ngram_range=(1, 1)):
        self.codebook_size = codebook_size
        self.by_position = by_position
        self.tfidf = tfidf
        self.ngram_range = ngram_range

    def _check_ngram_range(self):
        r = self.ngram_range
        if (not isinstance(r, tuple | list) or len(r) != 2
                or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in r)
                or not 1 <= r[0] <= r[1]):
            raise ValueError(f"ngram_range must be a pair of integers 1 <= min_n <= max_n, got {r!r}")
        return int(r[0]), int(r[1])

    def _sequences(self, X):
        return self._validate([_token_ids(s, i) for i, s in enumerate(_check_sequences(X))])

    def _validate(self, seqs):
        for i, s in enumerate(seqs):
            if s.shape[1] != self.n_tokens_:
                raise ValueError(f"video {i} has {s.shape[1]} tokens per frame, expected {self.n_tokens_}")
            if s.min() < 0 or s.max() >= self.codebook_size_:
                raise ValueError(f"video {i} has token ids outside [0, {self.codebook_size_})")
        return seqs

    def _ngram_keys(self, s, n):
        """Integer key of every n-gram of consecutive frames, one per (window, position)."""
        V = self.codebook_size_
        keys = np.zeros((max(len(s) - n + 1, 0), s.shape[1]), dtype=np.int64)
        for k in range(n):
            keys = keys * V + s[k : len(s) - n + 1 + k]
        if self.by_position:
            keys = keys + np.arange(s.shape[1]) * V**n
        return keys.ravel()

    def _counts(self, seqs):
        min_n, max_n = self._check_ngram_range()
        blocks = []
        if min_n == 1:
            n_words = self.codebook_size_ * (self.n_tokens_ if self.by_position else 1)
            rows = [np.bincount(self._ngram_keys(s, 1), minlength=n_words) / len(s) for s in seqs]
            blocks.append(sp.csr_matrix(np.vstack(rows)))
        for n in range(max(min_n, 2), max_n + 1):
            vocab = self.vocabulary_[n]
            rows, cols, vals = [], [], []
            for i, s in enumerate(seqs):
                keys = self._ngram_keys(s, n)
                col = np.searchsorted(vocab, keys)
                known = col < len(vocab)
                known[known] = vocab[col[known]] == keys[known]
                col, counts = np.unique(col[known], return_counts=True)
                rows.append(np.full(len(col), i))
                cols.append(col)
                vals.append(counts / max(len(s) - n + 1, 1))
            blocks.append(sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                        shape=(len(seqs), len(vocab))))
        return sp.hstack(blocks, format="csr")

    def fit(self, X, y=None):
        """Learn the vocabulary (and IDF weights with ``tfidf=True``).

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_tokens)
            Token ids of each video.
        y : ignored

        Returns
        -------
        self : BagOfTokens
        """
        min_n, max_n = self._check_ngram_range()
        if self.codebook_size is not None and not (
            isinstance(self.codebook_size, int | np.integer) and not isinstance(self.codebook_size, bool)
            and self.codebook_size >= 1
        ):
            raise ValueError(f"codebook_size must be a positive integer or None, got {self.codebook_size!r}")
        seqs = [_token_ids(s, i) for i, s in enumerate(_check_sequences(X))]
        self.n_tokens_ = seqs[0].shape[1]
        self.codebook_size_ = self.codebook_size or int(max(s.max() for s in seqs)) + 1
        if self.n_tokens_ * float(self.codebook_size_) ** max_n >= 2**62:
            raise ValueError(
                f"ngram_range={self.ngram_range!r} with {self.n_tokens_} tokens x {self.codebook_size_} codes "
                "has too many possible n-grams to index; use shorter n-grams"
            )
        self._validate(seqs)
        self.vocabulary_ = {n: np.unique(np.concatenate([self._ngram_keys(s, n) for s in seqs]))
                            for n in range(max(min_n, 2), max_n + 1)}
        self.tfidf_ = TfidfTransformer().fit(self._counts(seqs)) if self.tfidf else None
        return self

    def transform(self, X):
        """Token (n-gram) counts per frame of each video.

        Returns
        -------
        Xt : scipy.sparse.csr_matrix of shape (n_videos, n_words)
            With unigrams, the first ``n_tokens * codebook_size`` columns (with
            ``by_position``, else ``codebook_size``) count single ids; then one
            column per n-gram in ``vocabulary_``.
        """
        check_is_fitted(self)
        counts = self._counts(self._sequences(X))
        return self.tfidf_.transform(counts) if self.tfidf_ is not None else counts


_POOLS = {
    "mean": lambda a: np.nanmean(a, 0),
    "std": lambda a: np.nanstd(a, 0),
    "min": lambda a: np.nanmin(a, 0),
    "max": lambda a: np.nanmax(a, 0),
    "absmean": lambda a: np.nanmean(np.abs(a), 0),
}


def _pool(seqs, n_features, stats, velocity_stats=(), segments=()):
    """One row per video: ``stats`` of its frames, ``velocity_stats`` of their differences and the
    means of ``segments`` equal parts (names from ``_POOLS``); NaN where a statistic is undefined."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN features, one-frame videos
        for i, s in enumerate(seqs):
            if s.shape[1] != n_features:
                raise ValueError(f"video {i} has {s.shape[1]} features per frame, expected {n_features}")
            parts = [_POOLS[name](s) for name in stats]
            if velocity_stats:
                velocity = np.diff(s, axis=0) if len(s) > 1 else np.full_like(s, np.nan)
                parts += [_POOLS[name](velocity) for name in velocity_stats]
            for n in segments:
                chunks = np.array_split(np.arange(max(len(s), n)) * len(s) // max(len(s), n), n)
                parts += [np.nanmean(s[c], 0) for c in chunks]
            rows.append(np.concatenate(parts))
    return np.vstack(rows)


class MeanPool(TransformerMixin, BaseEstimator):
    """Mean (and optionally standard deviation) of each feature over a video's frames.

    The usual baseline against :class:`BagOfTokens`: a video becomes the average
    of its per-frame features. NaN values are ignored (a feature NaN in every
    frame of a video becomes 0).

    Parameters
    ----------
    with_std : bool, default=False
        Append the per-feature standard deviation over frames.

    Examples
    --------
    >>> import numpy as np
    >>> MeanPool().fit_transform([np.array([[0.0, 1.0], [2.0, 3.0]])])
    array([[1., 2.]])
    """

    def __init__(self, with_std=False):
        self.with_std = with_std

    def fit(self, X, y=None):
        self.n_features_in_ = _check_sequences(X)[0].shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self)
        stats = ("mean", "std") if self.with_std else ("mean",)
        # a joint missing in every frame of a video is expected; it becomes 0
        return np.nan_to_num(_pool(_check_sequences(X), self.n_features_in_, stats))


class TemporalPool(TransformerMixin, BaseEstimator):
    """Fixed-length video descriptor: statistics of per-frame features over time.

    Each video (an ``(n_frames, n_features)`` array of per-frame features, for
    instance ``PoseTokenizer(encode="latent")`` outputs or coordinates) becomes
    one row: the chosen statistics of its frames, the chosen statistics of its
    frame-to-frame differences (the velocity of the features, which keeps some
    of the motion that frame statistics lose), and optionally the means of
    equal consecutive segments (a temporal pyramid, which keeps coarse order).
    NaN values are ignored; a statistic undefined for a video (a feature NaN
    in every frame, or the velocity of a one-frame video) becomes 0.

    Parameters
    ----------
    stats : tuple of str, default=("mean", "std")
        Statistics of the frames, from ``"mean"``, ``"std"``, ``"min"``,
        ``"max"`` and ``"absmean"`` (mean absolute value).
    velocity_stats : tuple of str, default=("absmean", "std")
        Statistics of the differences between consecutive frames, from the
        same names; ``()`` for none.
    segments : tuple of int, default=()
        For each n in ``segments``, the mean of each of n equal consecutive
        parts of the video (a video shorter than n repeats its frames).

    Attributes
    ----------
    n_features_in_ : int
        Per-frame features seen in fit.
    n_features_out_ : int
        Columns of the output.

    See Also
    --------
    MeanPool : The mean (and standard deviation) alone.
    BagOfTokens : Frequencies of token ids.

    Examples
    --------
    >>> import numpy as np
    >>> video = np.array([[0.0], [2.0], [6.0]])
    >>> TemporalPool(stats=("mean", "max"), velocity_stats=("absmean",)).fit_transform([video])
    array([[2.66666667, 6.        , 3.        ]])
    >>> TemporalPool(stats=(), velocity_stats=(), segments=(2,)).fit_transform([video])
    array([[1., 6.]])
    """

    def __init__(self, stats=("mean", "std"), *, velocity_stats=("absmean", "std"), segments=()):
        self.stats = stats
        self.velocity_stats = velocity_stats
        self.segments = segments

    def _check_params(self):
        for name in ("stats", "velocity_stats"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v in _POOLS for v in value):
                raise ValueError(f"{name} must be a tuple of names from {sorted(_POOLS)}, got {value!r}")
        if isinstance(self.segments, str) or not all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in self.segments
        ):
            raise ValueError(f"segments must be a tuple of positive integers, got {self.segments!r}")
        if not (len(self.stats) or len(self.velocity_stats) or len(self.segments)):
            raise ValueError("TemporalPool needs at least one of stats, velocity_stats and segments")

    def fit(self, X, y=None):
        """Check the parameters and record the number of per-frame features.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features)
        y : ignored

        Returns
        -------
        self : TemporalPool
        """
        self._check_params()
        seqs = _check_sequences(X)
        widths = {s.shape[1] for s in seqs}
        if len(widths) != 1:
            raise ValueError(f"every video must have the same number of features per frame, got {sorted(widths)}")
        self.n_features_in_ = seqs[0].shape[1]
        n_blocks = len(self.stats) + len(self.velocity_stats) + sum(self.segments)
        self.n_features_out_ = n_blocks * self.n_features_in_
        return self

    def transform(self, X):
        """Pool each video.

        Parameters
        ----------
        X : sequence of array-like of shape (n_frames_i, n_features_in_)

        Returns
        -------
        Xt : ndarray of shape (n_videos, n_features_out_)
            Frame statistics, then velocity statistics, then segment means, each
            block ``n_features_in_`` wide, in the order of the parameters.
        """
        check_is_fitted(self)
        self._check_params()
        seqs = [np.asarray(s, dtype=np.float64) for s in _check_sequences(X)]
        rows = _pool(seqs, self.n_features_in_, self.stats, self.velocity_stats, self.segments)
        # all-NaN features and one-frame videos are expected; they become 0
        return np.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
