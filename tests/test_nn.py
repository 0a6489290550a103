import torch

from posetok.nn import EMAQuantizer, PoseTokenizerNet, TokenizerConfig, laplace_smoothing, linear_over_items


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
    cfg = TokenizerConfig(n_keypoints=5, n_tokens=3, token_dim=4, codebook_size=8,
                          encoder_width=8, decoder_width=8, token_mlp_width=4)
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
