"""Video-level transformers take a sequence of videos (a list of 2-D arrays), which
scikit-learn's estimator checks cannot generate, so their contract is tested here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from posetok import PoseTokenizer
from posetok.video import BagOfTokens, MeanPool, MotionTokenizer, PerFrame, TemporalPool, split_by_group

from .conftest import TINY


def test_split_by_group_checks():
    with pytest.raises(ValueError, match="groups has 1 entries"):
        split_by_group([[1], [2]], [0])
    with pytest.raises(ValueError, match="different labels"):
        split_by_group([[1], [2]], [0, 0], y=[1, 2])


def test_bag_of_tokens_by_position_and_tfidf():
    videos = [np.array([[0, 1], [0, 1]]), np.array([[1, 0]])]
    bag = BagOfTokens(codebook_size=2).fit(videos)
    # words: position 0 -> ids 0..1, position 1 -> ids 2..3
    np.testing.assert_allclose(bag.transform(videos).toarray(), [[1, 0, 0, 1], [0, 1, 1, 0]])
    tf = BagOfTokens(codebook_size=2, tfidf=True).fit(videos).transform(videos).toarray()
    np.testing.assert_allclose(np.linalg.norm(tf, axis=1), 1.0)


def test_bag_of_tokens_rejects_bad_input():
    bag = BagOfTokens(codebook_size=4).fit([np.zeros((2, 3), int)])
    with pytest.raises(ValueError, match="outside"):
        bag.transform([np.full((1, 3), 4)])
    with pytest.raises(ValueError, match="tokens per frame"):
        bag.transform([np.zeros((1, 2), int)])
    with pytest.raises(TypeError, match="split_by_group"):
        bag.transform(np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="no video"):
        bag.transform([])


def test_mean_pool_ignores_nan():
    out = MeanPool(with_std=True).fit_transform([np.array([[1.0, np.nan], [3.0, 2.0]])])
    np.testing.assert_allclose(out, [[2.0, 2.0, 1.0, 0.0]])


def test_video_pipeline_classifies(stick_figures):
    X, y = stick_figures
    groups = np.arange(len(X)) // 10  # 40 "videos" of 10 frames
    # each video: noisy copies of one pose, labelled with that pose's family
    first = groups * 10
    X = X[first] + np.random.default_rng(0).normal(0, 0.5, X.shape)
    videos, _, yv = split_by_group(X, groups, y[first])
    tok = PoseTokenizer(**{**TINY, "n_tokens": 8, "n_epochs": 10})
    pipe = make_pipeline(PerFrame(tok), BagOfTokens(TINY["codebook_size"]),
                         LogisticRegression(max_iter=500)).fit(videos, yv)
    assert pipe.predict(videos).shape == (len(videos),)
    assert pipe.score(videos, yv) > 0.5
    per_video = pipe[0].transform(videos)
    assert [len(v) for v in per_video] == [10] * len(videos)


def test_per_frame_accepts_frozen_fitted_tokenizer(tiny_fitted, stick_figures):
    from sklearn.frozen import FrozenEstimator

    videos = [stick_figures[0][:5], stick_figures[0][5:7]]
    out = PerFrame(FrozenEstimator(tiny_fitted)).fit(videos, [0, 1]).transform(videos)
    np.testing.assert_array_equal(np.concatenate(out), tiny_fitted.transform(stick_figures[0][:7]))


def test_bag_of_tokens_bigrams_count_transitions_per_position():
    videos = [np.array([[0, 1], [1, 1], [1, 0]]), np.array([[1, 0], [0, 0]])]
    uni = BagOfTokens(2).fit(videos)
    both = BagOfTokens(2, ngram_range=(1, 2)).fit(videos)
    Xt = both.transform(videos).toarray()
    # the unigram block is unchanged by adding bigrams
    np.testing.assert_allclose(Xt[:, :4], uni.transform(videos).toarray())
    # position 0 sees 0->1, 1->1 then 1->0; position 1 sees 1->1, 1->0 then 0->0
    keys = both.vocabulary_[2]
    assert len(keys) == Xt.shape[1] - 4 == 6
    row0 = dict(zip(keys.tolist(), Xt[0, 4:]))
    assert row0[0 * 4 + 0 * 2 + 1] == row0[0 * 4 + 1 * 2 + 1] == 0.5  # position 0: 0->1, 1->1
    assert row0[1 * 4 + 1 * 2 + 1] == row0[1 * 4 + 1 * 2 + 0] == 0.5  # position 1: 1->1, 1->0
    assert Xt[0, 4:].sum() == 2.0 and Xt[1, 4:].sum() == 2.0  # one frequency distribution per position


def test_bag_of_tokens_bigrams_unseen_and_short_videos():
    bag = BagOfTokens(3, by_position=False, ngram_range=(2, 2)).fit([np.array([[0], [1]])])
    assert bag.transform([np.array([[2], [2]]), np.array([[0]])]).toarray().tolist() == [[0.0], [0.0]]
    assert bag.transform([np.array([[0], [1], [0], [1]])]).toarray().tolist() == [[2 / 3]]


@pytest.mark.parametrize("ngram_range", [(0, 1), (2, 1), (1,), "1,2", (1.0, 2.0), (True, True)])
def test_bag_of_tokens_rejects_bad_ngram_range(ngram_range):
    with pytest.raises(ValueError, match="ngram_range"):
        BagOfTokens(2, ngram_range=ngram_range).fit([np.array([[0], [1]])])


def test_bag_of_tokens_rejects_ngrams_it_cannot_index():
    with pytest.raises(ValueError, match="too many possible n-grams"):
        BagOfTokens(2**16, ngram_range=(1, 4)).fit([np.array([[0], [1]])])


def test_split_by_group_refuses_nan_groups():
    # issue 15, item 13: NaN groups gave an empty video
    with pytest.raises(ValueError, match="NaN"):
        split_by_group([[1], [2], [3]], [0.0, np.nan, np.nan])
    with pytest.raises(ValueError, match="None or NaN"):
        split_by_group([[1], [2]], np.array(["a", None], dtype=object))


def test_bag_of_tokens_refuses_fractional_ids_and_bad_codebook_size():
    with pytest.raises(ValueError, match="not whole numbers"):
        BagOfTokens(4).fit([np.array([[0.5, 1.0]])])
    with pytest.raises(TypeError, match="integer token ids"):
        BagOfTokens(4).fit([np.array([["a", "b"]])])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="codebook_size must be a positive integer"):
            BagOfTokens(bad).fit([np.array([[0, 1]])])
    # whole-number floats are ids
    np.testing.assert_array_equal(BagOfTokens(2).fit_transform([np.array([[0.0], [1.0]])]).toarray(), [[0.5, 0.5]])


def test_mean_pool_refuses_another_width():
    pool = MeanPool().fit([np.zeros((3, 26))])
    with pytest.raises(ValueError, match="4 features per frame, expected 26"):
        pool.transform([np.zeros((3, 4))])


def test_temporal_pool_statistics():
    from posetok.video import TemporalPool

    video = np.array([[0.0, 1.0], [2.0, np.nan], [6.0, 3.0]])
    out = TemporalPool(stats=("mean", "std", "min", "max"), velocity_stats=("absmean", "std")).fit_transform([video])
    # blocks: mean, std, min, max of the frames, then |mean| and std of the velocities (2 and 4 for
    # feature 0; NaN for feature 1, which becomes 0)
    np.testing.assert_allclose(out[0], [8 / 3, 2.0, np.std([0, 2, 6]), 1.0, 0.0, 1.0, 6.0, 3.0,
                                        3.0, 0.0, 1.0, 0.0])
    # a one-frame video has no velocity: 0; segments repeat its frame
    one = TemporalPool(stats=("mean",), velocity_stats=("std",), segments=(2,)).fit_transform([video[:1]])
    np.testing.assert_allclose(one, [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]])


@pytest.mark.parametrize("params, match", [
    ({"stats": "mean"}, "stats must be a tuple"),
    ({"stats": ("median",)}, "stats must be a tuple"),
    ({"velocity_stats": ("bogus",)}, "velocity_stats"),
    ({"segments": (0,)}, "segments"),
    ({"stats": (), "velocity_stats": ()}, "at least one"),
])
def test_temporal_pool_rejects_bad_parameters(params, match):
    from posetok.video import TemporalPool

    with pytest.raises(ValueError, match=match):
        TemporalPool(**params).fit([np.zeros((2, 3))])


def test_temporal_pool_rejects_other_widths():
    from posetok.video import TemporalPool

    pool = TemporalPool().fit([np.zeros((2, 3))])
    assert pool.transform([np.zeros((4, 3))]).shape == (1, pool.n_features_out_) == (1, 12)
    with pytest.raises(ValueError, match="2 features per frame, expected 3"):
        pool.transform([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="same number of features"):
        TemporalPool().fit([np.zeros((2, 3)), np.zeros((2, 4))])


def test_per_frame_takes_videos_of_3d_keypoints():
    from posetok.datasets import make_stick_figures_3d
    from posetok.video import TemporalPool

    X, y = make_stick_figures_3d(90, random_state=0)
    videos, _, labels = split_by_group(X, np.arange(90) // 10, y=np.arange(90) // 10)
    assert videos[0].shape == (10, 13, 3)
    per_frame = PerFrame(PoseTokenizer(**TINY, encode="latent")).fit(videos)
    assert per_frame.transformer_.n_dims_ == 3
    out = per_frame.transform(videos)
    np.testing.assert_array_equal(np.concatenate(out), per_frame.transformer_.transform(X))
    assert TemporalPool().fit_transform(out).shape[0] == 9
    with pytest.raises(ValueError, match="every frame needs the same keypoints"):
        per_frame.transform([videos[0], videos[1][:, :12]])
    with pytest.raises(ValueError, match="mix flat frames"):
        per_frame.transform([videos[0], videos[1].reshape(10, -1)])
    with pytest.raises(ValueError, match="non-empty"):
        per_frame.transform([videos[0][:0]])


# MotionTokenizer: an identity "tokenizer" exposes the windows themselves
def _identity():
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer()


@pytest.mark.parametrize("frame_shape", [(6,), (3, 2)])
def test_motion_tokenizer_windows_stack_dilated_frames(frame_shape):
    video = np.arange(10 * np.prod(frame_shape), dtype=float).reshape(10, *frame_shape)
    motion = MotionTokenizer(_identity(), window=3, dilation=2).fit([video])
    (windows,) = motion.transform([video])
    assert windows.shape == ((10 - 5 + 1, 3 * 3, 2) if len(frame_shape) == 2 else (6, 18))
    for start in range(6):
        expected = np.concatenate([video[start + 2 * k].ravel() for k in range(3)])
        np.testing.assert_array_equal(windows[start].ravel(), expected)


@settings(max_examples=25, deadline=None)
@given(n_frames=st.integers(1, 20), window=st.integers(1, 4), dilation=st.integers(1, 3))
def test_motion_tokenizer_inverse_of_identity_gives_frames_back(n_frames, window, dilation):
    span = (window - 1) * dilation + 1
    video = np.random.default_rng(n_frames).normal(size=(n_frames, 4, 2))
    motion = MotionTokenizer(_identity(), window=window, dilation=dilation, fit_stride=3).fit([video])
    out = motion.transform([video])
    assert out[0].shape[0] == max(1, n_frames - span + 1)
    (back,) = motion.inverse_transform(out)
    padded = np.concatenate([video, np.repeat(video[-1:], max(0, span - n_frames), axis=0)])
    covered = ~np.isnan(back).all(axis=(1, 2))
    np.testing.assert_allclose(back[covered], padded[covered])
    # a frame lies in no window only when there are fewer windows than the dilation
    assert covered.all() or out[0].shape[0] < dilation


def test_motion_tokenizer_fits_pose_tokenizer_on_windows(stick_figures):
    X, y = stick_figures
    kp = X.reshape(len(X), -1, 2)
    videos = [kp[i:i + 20] + np.linspace(0, 1, 20)[:, None, None] for i in range(0, 400, 20)]
    before = [v.copy() for v in videos]
    motion = MotionTokenizer(PoseTokenizer(**TINY), window=4, fit_stride=2).fit(videos)
    for v, b in zip(videos, before):
        np.testing.assert_array_equal(v, b)  # input not modified
    assert motion.tokenizer_.n_keypoints_ == 4 * 13
    assert motion.frame_shape_ == (13, 2)
    ids = motion.transform(videos)
    assert [a.shape for a in ids] == [(17, TINY["n_tokens"])] * len(videos)
    back = motion.inverse_transform(ids)
    assert [b.shape for b in back] == [(20, 13, 2)] * len(videos)
    assert np.isfinite(np.concatenate(back)).all()
    # a sparse encoding comes back per video, and inverts
    motion.tokenizer_.set_params(encode="onehot")  # an output format, settable after fit
    sparse = motion.transform(videos[:2])
    assert all(s.shape == (17, TINY["n_tokens"] * TINY["codebook_size"]) for s in sparse)
    np.testing.assert_allclose(motion.inverse_transform(sparse)[0], back[0])
    with pytest.raises(ValueError, match="fitted on frames of shape"):
        motion.transform([np.zeros((20, 12, 2))])


def test_motion_tokenizer_in_a_video_pipeline(stick_figures):
    from sklearn.base import clone

    X, y = stick_figures
    rank = np.array([np.sum(y[:i] == y[i]) for i in range(len(y))])  # place of a pose within its class
    videos, _, yv = split_by_group(X, y * 1000 + rank // 10, y)  # videos of up to 10 poses of one class
    pipe = make_pipeline(MotionTokenizer(PoseTokenizer(**{**TINY, "encode": "latent"}), window=3),
                         TemporalPool(), LogisticRegression(max_iter=500))
    pipe.fit(videos, yv)
    assert pipe.score(videos, yv) > 0.5
    assert clone(pipe)[0].get_params()["window"] == 3


@pytest.mark.parametrize("params, error", [
    (dict(window=0), ValueError), (dict(dilation=0), ValueError), (dict(fit_stride=-1), ValueError),
    (dict(window=2.0), TypeError), (dict(dilation=True), TypeError),
])
def test_motion_tokenizer_rejects_bad_parameters(params, error):
    with pytest.raises(error, match=next(iter(params))):
        MotionTokenizer(_identity(), **params).fit([np.zeros((5, 2))])


def test_per_frame_keeps_sparse_and_pandas_outputs(tiny_fitted, stick_figures):
    import scipy.sparse as sp
    from sklearn.base import clone

    videos = [stick_figures[0][:5], stick_figures[0][5:7]]
    onehot = PerFrame(clone(tiny_fitted).set_params(encode="onehot")).fit(videos)
    out = onehot.transform(videos)
    assert [sp.issparse(o) and o.shape[0] for o in out] == [5, 2]
    np.testing.assert_array_equal(sp.vstack(out).toarray(),
                                  onehot.transformer_.transform(stick_figures[0][:7]).toarray())
    pytest.importorskip("pandas")
    frames = PerFrame(clone(tiny_fitted).set_output(transform="pandas")).fit(videos).transform(videos)
    assert [len(f) for f in frames] == [5, 2] and list(frames[1].index) == [5, 6]


def test_motion_tokenizer_default_is_a_latent_pose_tokenizer(monkeypatch):
    seen = {}

    def fake_fit(self, X, y=None):
        seen.update(params=self.get_params(), shape=np.shape(X))
        return self

    monkeypatch.setattr(PoseTokenizer, "fit", fake_fit)
    videos = [np.zeros((10, 5, 2)), np.zeros((3, 5, 2))]
    motion = MotionTokenizer(window=4).fit(videos)
    assert isinstance(motion.tokenizer_, PoseTokenizer) and motion.tokenizer is None
    assert seen["params"] == PoseTokenizer(encode="latent").get_params()
    # windows 0, 2, 4, 6 of the first video and the padded second video's only one
    assert seen["shape"] == (5, 4 * 5, 2)


@pytest.mark.parametrize("transformer", [PerFrame(_identity()), MotionTokenizer(_identity(), window=2)])
def test_frame_level_video_transformers_refuse_flat_frames_of_different_widths(transformer):
    with pytest.raises(ValueError, match="every frame needs the same keypoints"):
        transformer.fit([np.zeros((5, 4)), np.zeros((5, 6))])
