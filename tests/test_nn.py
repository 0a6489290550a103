import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posetok.nn import (
    PACKED_MAX_BITS,
    EMAQuantizer,
    PoseTokenizerNet,
    TokenizerConfig,
    laplace_smoothing,
    linear_over_items,
    packed_argmin,
)

# the sizes TokenizerConfig needs besides the ones a test is about (it has no defaults)
WIDTHS = dict(encoder_width=16, encoder_depth=2, decoder_width=16, decoder_depth=2, token_mlp_width=8)


def test_laplace_smoothing_keeps_total_and_removes_zeros():
    counts = torch.tensor([0.0, 2.0, 6.0])
    smoothed = laplace_smoothing(counts, eps=1e-5)
    assert torch.isclose(smoothed.sum(), counts.sum())
    assert (smoothed > 0).all()


def test_quantizer_picks_nearest_code_and_lookup_round_trips():
    q = EMAQuantizer(3, 2)
    q.set_codebook_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]))
    z = torch.tensor([[[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [6.0, 0.0]]])
    idx = q.nearest(z)
    assert idx.tolist() == [[0, 1, 2, 1]]
    q.eval()
    out, idx2, _ = q(z)
    # decoding the indices reproduces the quantized output
    assert torch.equal(out, q.lookup(idx2))


def test_straight_through_gradient_reaches_input():
    q = EMAQuantizer(4, 3)
    q.set_codebook_(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    z = torch.randn(2, 5, 3, requires_grad=True)
    out, _, commitment = q(z)
    (out.sum() + commitment).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_ema_updates_only_in_training_mode():
    q = EMAQuantizer(2, 1, decay=0.5)
    q.set_codebook_(torch.tensor([[0.0], [10.0]]))
    z = torch.tensor([[[2.0], [2.0]]])
    q.eval()
    q(z)
    assert q.codebook.tolist() == [[0.0], [10.0]]
    q.train()
    q(z)
    # code 0: ema_sum 0.5*0 + 0.5*4 = 2, ema_count 0.5*1 + 0.5*2 = 1.5 -> about 1.33
    assert abs(q.codebook[0, 0].item() - 2.0 / 1.5) < 1e-3
    assert q.codebook[1, 0].item() > 9.0  # unused code stays put


def test_dead_codes_are_reseeded_from_inputs():
    q = EMAQuantizer(3, 2)
    q.set_codebook_(torch.zeros(3, 2))
    q.ema_count.copy_(torch.tensor([5.0, 0.0, 0.0]))
    z = torch.full((1, 4, 2), 7.0)
    n = q.expire_dead_codes_(z, threshold=1.0, generator=torch.Generator().manual_seed(0))
    assert n == 2
    assert q.codebook[1:].eq(7.0).all() and q.codebook[0].eq(0.0).all()


def test_network_shapes_and_missing_embedding_used():
    cfg = TokenizerConfig(n_keypoints=5, n_dims=2, n_tokens=3, token_dim=4, codebook_size=8, encoder_width=8,
                          encoder_depth=2, decoder_width=8, decoder_depth=2, token_mlp_width=4)
    net = PoseTokenizerNet(cfg).eval()
    kp = torch.randn(6, 5, 2)
    observed = torch.ones(6, 5, dtype=torch.bool)
    recon, idx, _, z = net(kp, observed)
    assert recon.shape == (6, 5, 2) and idx.shape == (6, 3) and z.shape == (6, 3, 4)
    hidden = observed.clone()
    hidden[:, 0] = False
    changed = kp.clone()
    changed[:, 0] = 100.0
    # a hidden joint's coordinates do not reach the encoder
    assert torch.allclose(net.encoder(kp, hidden), net.encoder(changed, hidden))
    assert net.decode(idx).shape == (6, 5, 2)


def test_linear_over_items_matches_transposed_linear():
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 3)
    x = torch.randn(4, 5, 7, requires_grad=True)
    out = linear_over_items(linear, x)
    expected = linear(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    (g_out,) = torch.autograd.grad(out.square().sum(), x)
    (g_exp,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(g_out, g_exp)


def test_nearest_matches_the_argmin_of_distances_and_takes_the_first_code_on_ties():
    gen = torch.Generator().manual_seed(0)
    q = EMAQuantizer(37, 5)
    codes = torch.randn(37, 5, generator=gen)
    codes[20] = codes[3]  # a duplicate code: every vector nearest to it is a tie
    q.set_codebook_(codes)
    z = torch.cat([torch.randn(2, 1000, 5, generator=gen), codes[3].expand(2, 4, 5)], dim=1)
    expected = torch.cdist(z.reshape(-1, 5), codes).argmin(1).reshape(2, -1)
    idx = q.nearest(z)
    assert torch.equal(idx, expected)
    assert (idx == 3).any() and not (idx == 20).any()


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 20), st.integers(1, 300)),
        elements=st.floats(0, 1e6, width=32, allow_subnormal=False) | st.sampled_from([0.0, 1.0, 2.5]),
    )
)
def test_packed_argmin_finds_the_minimum_to_its_resolution_and_the_first_of_ties(values):
    n_columns = values.shape[1]
    resolution = 2.0 ** ((n_columns - 1).bit_length() - 23)
    got = packed_argmin(torch.from_numpy(values.copy())).numpy()
    smallest = values.min(1)
    picked = values[np.arange(len(values)), got]
    # the picked value is the minimum up to the stated relative resolution ...
    assert np.all(picked <= smallest * (1 + 2 * resolution))
    # ... and no earlier column holds a value smaller by more than it
    for row, col in enumerate(got):
        assert np.all(values[row, :col] >= picked[row] * (1 - 2 * resolution))
    # exact when the minimum is unique by a clear margin, and the first on exact ties
    ordered = np.sort(values, axis=1)
    second = ordered[:, 1] if n_columns > 1 else np.inf
    clear = second > ordered[:, 0] * (1 + 4 * resolution)
    ties = (values == smallest[:, None]).sum(1) > 1
    expected = values.argmin(1)
    assert np.array_equal(got[clear | ties], expected[clear | ties])


def test_packed_argmin_reads_negative_rounding_errors_as_their_size():
    d = torch.tensor([[0.5, -1e-7, 2e-7, 1e-8], [-0.0, 3.0, 0.0, 2.0]])
    assert packed_argmin(d).tolist() == [3, 0]


@pytest.mark.parametrize(
    "distances, error",
    [
        (torch.zeros(3, 4, dtype=torch.float64), TypeError),
        (torch.zeros(3, 4, dtype=torch.float16), TypeError),
        (torch.zeros(4), ValueError),
        (torch.zeros(3, 0), ValueError),
    ],
)
def test_packed_argmin_refuses_what_it_cannot_read(distances, error):
    with pytest.raises(error, match="packed_argmin needs"):
        packed_argmin(distances)


@pytest.mark.parametrize("n_codes", [2**PACKED_MAX_BITS, 2**PACKED_MAX_BITS + 1])
def test_nearest_on_large_codebooks_agrees_with_the_exact_argmin(n_codes):
    # At 2**PACKED_MAX_BITS codes the packed search has its coarsest resolution (2**-11);
    # one more code switches to the exact argmin.
    gen = torch.Generator().manual_seed(1)
    q = EMAQuantizer(n_codes, 8)
    codes = torch.randn(n_codes, 8, generator=gen)
    q.set_codebook_(codes)
    z = codes[:300] + 0.1 * torch.randn(300, 8, generator=gen)
    expected = torch.cdist(z, codes).argmin(1)
    assert torch.equal(q.nearest(z), expected)


def test_encoding_complete_poses_without_the_mask_changes_nothing():
    from posetok.training import encode

    torch.manual_seed(0)
    net = PoseTokenizerNet(TokenizerConfig(n_keypoints=5, n_dims=2, n_tokens=3, codebook_size=8, token_dim=4, **WIDTHS))
    net.quantizer.set_codebook_(torch.randn(8, 4))
    net.encoder.missing_embedding.data.normal_()
    kp = torch.randn(40, 5, 2)
    all_seen = torch.ones(40, 5, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(net.encoder(kp), net.encoder(kp, all_seen), rtol=0, atol=0)
    # encode drops an all-True mask; a mask with a gap is still applied
    assert torch.equal(encode(net, kp, all_seen, batch_size=16), net.encode(kp).detach())
    gap = all_seen.clone()
    gap[3, 1] = False
    assert torch.equal(encode(net, kp, gap, batch_size=16), net.encode(kp, gap).detach())
    assert not torch.equal(net.encoder(kp, gap)[3], net.encoder(kp)[3])


def test_inference_helpers_run_in_eval_mode_and_restore_every_module_mode():
    from posetok.training import decode, encode

    torch.manual_seed(0)
    config = TokenizerConfig(n_keypoints=5, n_dims=2, n_tokens=3, codebook_size=8, token_dim=4, **WIDTHS, dropout=0.5)
    net = PoseTokenizerNet(config)
    net.quantizer.set_codebook_(torch.randn(8, 4))
    kp, seen = torch.randn(40, 5, 2), torch.ones(40, 5, dtype=torch.bool)
    net.train()
    net.encoder.eval()  # a mixed state, as staged training leaves it
    modes = {name: m.training for name, m in net.named_modules()}
    ids = encode(net, kp, seen)
    assert torch.equal(encode(net, kp, seen), ids)  # no dropout noise: eval mode
    assert torch.equal(decode(net, ids), decode(net, ids))
    assert {name: m.training for name, m in net.named_modules()} == modes
    net.eval()
    assert torch.equal(encode(net, kp, seen), ids)
    assert not any(m.training for m in net.modules())


def test_laplace_smoothing_smooths_each_codebook_on_its_own():
    counts = torch.tensor([[0.0, 2.0, 6.0], [1.0, 0.0, 0.0]])
    smoothed = laplace_smoothing(counts, eps=1e-5)
    torch.testing.assert_close(smoothed.sum(-1), counts.sum(-1))
    torch.testing.assert_close(smoothed[0], laplace_smoothing(counts[0], eps=1e-5))


def _per_token(n_books=3, n_codes=5, dim=2, seed=0):
    q = EMAQuantizer(n_codes, dim, decay=0.5, n_books=n_books)
    q.set_codebook_(torch.randn(n_books, n_codes, dim, generator=torch.Generator().manual_seed(seed)))
    return q


def test_per_token_codebooks_search_and_decode_each_position_in_its_own_book():
    q = _per_token()
    assert q.n_books == 3 and q.codebook_size == 5 and EMAQuantizer(5, 2).n_books is None
    z = torch.randn(7, 3, 2, generator=torch.Generator().manual_seed(1))
    ids = q.nearest(z)
    brute = torch.cdist(z.transpose(0, 1), q.codebook).argmin(-1).T  # (7, 3), each position vs its book
    assert torch.equal(ids, brute)
    assert torch.equal(q.lookup(ids), q.codebook[torch.arange(3), ids])


def test_per_token_ema_update_equals_a_shared_quantizer_per_position():
    q = _per_token()
    z = torch.randn(16, 3, 2, generator=torch.Generator().manual_seed(2))
    singles = []
    for m in range(3):
        single = EMAQuantizer(5, 2, decay=0.5)
        single.set_codebook_(q.codebook[m])
        singles.append(single.train())
    q.train()
    _, ids, _ = q(z)
    for m, single in enumerate(singles):
        _, single_ids, _ = single(z[:, m : m + 1])
        assert torch.equal(single_ids[:, 0], ids[:, m])
        torch.testing.assert_close(q.codebook[m], single.codebook)
        torch.testing.assert_close(q.ema_count[m], single.ema_count)


def test_per_token_dead_codes_are_reseeded_from_their_own_position():
    q = EMAQuantizer(4, 2, n_books=2)
    q.set_codebook_(torch.zeros(2, 4, 2))
    q.ema_count.copy_(torch.tensor([[5.0, 0.0, 5.0, 5.0], [0.0, 0.0, 5.0, 5.0]]))
    z = torch.stack([torch.full((6, 2), 1.0), torch.full((6, 2), 2.0)], 1)  # position 0: ones, 1: twos
    n = q.expire_dead_codes_(z, threshold=1.0, generator=torch.Generator().manual_seed(0))
    assert n == 3
    assert q.codebook[0, 1].tolist() == [1.0, 1.0]
    assert q.codebook[1, :2].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert q.codebook[0, 0].tolist() == [0.0, 0.0] and q.ema_count[1, 0] == 1.0


@pytest.mark.parametrize("n_books", [None, 3])
def test_one_hot_code_sums_equal_the_scatter_add(n_books):
    # the one-hot product is what a GPU fit uses (run to run, CUDA's index_add_ adds in varying order)
    q = EMAQuantizer(5, 4, n_books=n_books)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, 4, generator=gen, dtype=torch.float64)
    ids = torch.randint(5, (7, 3), generator=gen)
    scattered = q.code_sums(z, ids)
    assert scattered.shape == (q.n_codes, 4)
    torch.testing.assert_close(q.code_sums(z, ids, one_hot=True), scattered, rtol=1e-12, atol=1e-12)
    # each row is the sum of the vectors given that code (per position with n_books)
    row = q.flat_ids(ids)[2, 1]
    chosen = (q.flat_ids(ids) == row)
    torch.testing.assert_close(scattered[row], z[chosen].sum(0))
