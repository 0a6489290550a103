import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posetok import PoseTokenizer
from posetok.refinement import fit_residual_codebooks, residual_codes, residual_offsets

from .conftest import TINY, hide_joints

REFINED = {**TINY, "refinement_stages": 2, "refinement_codebook_size": 16}


# ------------------------------------------------------------ the functions
def test_codes_are_kmeans_centres_of_each_joint():
    # joint 0: two clusters along x; joint 1: two clusters along y
    r = np.array([[[-1.0, 0], [0, -2]], [[-1.2, 0], [0, -2.2]], [[1.0, 0], [0, 2]], [[1.2, 0], [0, 2.2]]])
    books = fit_residual_codebooks(r, np.ones((4, 2), bool), n_stages=1, codebook_size=2, seed=0)
    assert books.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(np.sort(books[0, 0, :, 0]), [-1.1, 1.1])
    np.testing.assert_allclose(np.sort(books[0, 1, :, 1]), [-2.1, 2.1])
    np.testing.assert_allclose(books[0, 0, :, 1], 0)


def test_second_stage_fits_what_the_first_left():
    r = np.array([[[-1.1, 0]], [[-0.9, 0]], [[0.9, 0]], [[1.1, 0]]])
    books = fit_residual_codebooks(r, np.ones((4, 1), bool), n_stages=2, codebook_size=2, seed=0)
    np.testing.assert_allclose(np.sort(books[1, 0, :, 0]), [-0.1, 0.1])
    ids = residual_codes(r, np.ones((4, 1), bool), books)
    np.testing.assert_allclose(residual_offsets(ids, books), r, atol=1e-12)


def test_unobserved_residuals_are_ignored_and_coded_as_zero():
    r = np.array([[[1.0, 1.0]], [[1.0, 1.0]], [[99.0, 99.0]], [[-1.0, -1.0]]])
    observed = np.array([[True], [True], [False], [True]])
    books = fit_residual_codebooks(r, observed, n_stages=1, codebook_size=2, seed=0)
    assert np.abs(books).max() == pytest.approx(1.0)  # the unobserved 99 was not fitted
    ids = residual_codes(np.array([[[50.0, 50.0]]]), np.array([[False]]), books)
    zero_code = np.argmin((books[0, 0] ** 2).sum(-1))
    assert ids[0, 0] == zero_code


def test_few_distinct_residuals_and_a_joint_never_observed():
    r = np.zeros((5, 2, 2))
    r[:, 0] = [0.5, -0.5]
    observed = np.array([[True, False]] * 5)
    books = fit_residual_codebooks(r, observed, n_stages=1, codebook_size=4, seed=0)
    np.testing.assert_array_equal(books[0, 0], [[0.5, -0.5]] * 4)  # the one distinct residual, repeated
    np.testing.assert_array_equal(books[0, 1], 0)  # never observed: no correction
    ids = residual_codes(r, observed, books)
    assert (ids == 0).all()  # the first of equal codes


@settings(max_examples=40, deadline=None)
@given(
    residuals=arrays(np.float64, (7, 3, 2), elements=st.floats(-4, 4, width=32)),
    codebooks=arrays(np.float64, (2, 3, 5, 2), elements=st.floats(-4, 4, width=32)),
)
def test_each_stage_picks_the_nearest_code_of_what_is_left(residuals, codebooks):
    ids = residual_codes(residuals, np.ones((7, 3), bool), codebooks)
    left = residuals.copy()
    for stage in range(2):
        for k in range(3):
            d = ((left[:, k, None, :] - codebooks[stage, k][None]) ** 2).sum(-1)
            got = d[np.arange(7), ids[:, stage * 3 + k]]
            # float32 distances, compared on their leading mantissa bits (posetok.nn.packed_argmin)
            scale = 1 + (left[:, k] ** 2).sum(-1) + (codebooks[stage, k] ** 2).sum(-1).max()
            assert (got <= d.min(1) + 1e-5 * scale).all()
            left[:, k] -= codebooks[stage, k][ids[:, stage * 3 + k]]
    np.testing.assert_allclose(residuals - residual_offsets(ids, codebooks), left, atol=1e-12)


def test_exact_search_beyond_the_packed_limit(monkeypatch):
    import posetok.nn

    rng = np.random.default_rng(0)
    r, books = rng.normal(size=(200, 2, 2)), rng.normal(size=(1, 2, 16, 2))
    exact = ((r[:, :, None] - books[0][None]) ** 2).sum(-1).argmin(-1)
    np.testing.assert_array_equal(residual_codes(r, np.ones((200, 2), bool), books), exact)
    monkeypatch.setattr(posetok.nn, "PACKED_MAX_BITS", 2)  # 16 codes: the plain argmin
    np.testing.assert_array_equal(residual_codes(r, np.ones((200, 2), bool), books), exact)


# ----------------------------------------------------- through the estimator
@pytest.fixture(scope="module")
def refined(stick_figures):
    return PoseTokenizer(**REFINED).fit(stick_figures[0])


def test_transform_appends_one_id_per_keypoint_and_stage(refined, stick_figures):
    X = stick_figures[0]
    ids = refined.transform(X)
    assert ids.shape == (len(X), 4 + 2 * 13) and ids.dtype == np.int64
    assert ids[:, 4:].min() >= 0 and ids[:, 4:].max() < 16
    assert refined.refinement_codebooks_.shape == (2, 13, 16, 2)
    assert refined.bits_per_pose_ == pytest.approx(4 * 4 + 2 * 13 * 4)
    names = refined.get_feature_names_out()
    assert list(names[3:6]) == ["token_3", "refinement1_0", "refinement1_1"] and names[-1] == "refinement2_12"


def test_base_tokens_do_not_depend_on_refinement(refined, stick_figures):
    X = stick_figures[0]
    plain = PoseTokenizer(**TINY).fit(X)
    np.testing.assert_array_equal(refined.transform(X)[:, :4], plain.transform(X))
    assert plain.refinement_codebooks_.shape == (0, 13, 256, 2)
    assert plain.bits_per_pose_ == pytest.approx(16)


def test_each_stage_lowers_the_error_and_stages_decode_progressively(refined, stick_figures):
    X = stick_figures[0]
    ids = refined.transform(X)
    errors = [
        np.linalg.norm((refined.inverse_transform(ids[:, : 4 + 13 * s]) - X).reshape(len(X), -1, 2), axis=-1).mean()
        for s in range(3)
    ]
    # 16 k-means codes per joint and stage: each stage removes most of the error left
    assert errors[1] < 0.5 * errors[0] and errors[2] < 0.7 * errors[1], errors
    assert -refined.score(X) == pytest.approx(errors[2], rel=1e-6)


def test_missing_joints_get_no_correction(refined, stick_figures):
    X = hide_joints(stick_figures[0][:40], 0.3, seed=1)
    ids = refined.transform(X)
    missing = np.isnan(X[:, ::2])
    books = refined.refinement_codebooks_
    offsets = residual_offsets(ids[:, 4:], books)
    # the codes chosen for a zero residual: as near zero as the codebooks allow
    best = np.linalg.norm(books[0], axis=-1).min(1)
    assert (np.linalg.norm(offsets, axis=-1)[missing] <= np.broadcast_to(best, missing.shape)[missing] + 1e-12).all()
    assert np.isfinite(refined.inverse_transform(ids)).all()


@pytest.mark.parametrize(
    "width, match", [(4 + 13 + 1, "one of \\[4, 17, 30\\]"), (4 + 3 * 13, "up to 2 refinement stage")]
)
def test_ids_of_partial_stages_are_refused(refined, stick_figures, width, match):
    with pytest.raises(ValueError, match=match):
        refined.inverse_transform(np.zeros((2, width), dtype=np.int64))


def test_refinement_ids_out_of_range_are_refused(refined, stick_figures):
    ids = refined.transform(stick_figures[0][:3])
    ids[0, -1] = 16
    with pytest.raises(ValueError, match=r"refinement ids must lie in \[0, 16\)"):
        refined.inverse_transform(ids)
    ids[0, -1] = 0
    ids[0, 0] = 16
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 16\)"):
        refined.inverse_transform(ids)


def test_pandas_output_names_the_refinement_columns(refined, stick_figures):
    pd = pytest.importorskip("pandas")
    out = PoseTokenizer(**REFINED).set_output(transform="pandas").fit(stick_figures[0]).transform(stick_figures[0][:3])
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(refined.get_feature_names_out())


def test_fitted_stages_not_a_changed_parameter_decide_the_output(stick_figures):
    X = stick_figures[0][:50]
    tok = PoseTokenizer(**REFINED).fit(X)
    ids = tok.transform(X)
    back = tok.inverse_transform(ids)
    tok.set_params(refinement_stages=5, refinement_codebook_size=4)  # without refitting
    np.testing.assert_array_equal(tok.transform(X), ids)
    np.testing.assert_array_equal(tok.inverse_transform(ids), back)  # ids >= 4 are still valid
    with pytest.raises(ValueError, match="up to 2 refinement stage"):
        tok.inverse_transform(np.zeros((1, 4 + 3 * 13), dtype=np.int64))
    assert len(tok.get_feature_names_out()) == ids.shape[1]
