"""A fitted pose codec: :class:`PoseCodec`, the state below :class:`~posetok.PoseTokenizer`.

It holds what a fit produces (the network, the refinement codebooks and the
normalisation) and turns normalised keypoints into ids and ids into poses. It
knows torch and numpy, not scikit-learn: the estimator validates input and
delegates here, and :mod:`posetok.io` saves and loads these parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .nn import PoseTokenizerNet
from .normalization import PoseNormalizer
from .refinement import residual_codes, residual_offsets
from .training import decode, decode_latent, encode, exact_token_vectors, float64_encoder

__all__ = ["PoseCodec", "token_residuals"]


def token_residuals(network: PoseTokenizerNet, keypoints: torch.Tensor, token_ids) -> np.ndarray:
    """Keypoints ``(n, K, n_dims)`` minus the decoding of their token ids alone, float64, normalised units.

    What the refinement stages code; fit uses it before the codec exists.
    """
    return keypoints.double().numpy() - decode(network, torch.as_tensor(token_ids)).double().numpy()


@dataclass
class PoseCodec:
    """Network, refinement codebooks ``(S, K, R, n_dims)`` (normalised units) and normalisation.

    Keypoint inputs are the network's: a float32 tensor of
    normalised coordinates with missing joints at 0 (``(n, K, n_dims)``), and a bool mask ``(n, K)``.
    """

    network: PoseTokenizerNet
    refinement_codebooks: np.ndarray
    normalizer: PoseNormalizer
    # made by the first latent(); never pickled (it is the network's encoder again)
    _float64_encoder: torch.nn.Module | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "_float64_encoder": None}

    @property
    def n_tokens(self) -> int:
        return self.network.config.n_tokens

    @property
    def n_stages(self) -> int:
        return self.refinement_codebooks.shape[0]

    def encode(self, keypoints: torch.Tensor, observed: torch.Tensor, *, with_latent: bool = False):
        """Ids ``(n, n_tokens + S * K)`` int64 (tokens, then refinement ids), and the latent
        token vectors ``(n, n_tokens, D)`` when ``with_latent`` (else None)."""
        ids = encode(self.network, keypoints, observed)
        latent = self.latent(keypoints, observed) if with_latent else None
        return self.with_refinement(keypoints, observed, ids.numpy().astype(np.int64)), latent

    def latent(self, keypoints: torch.Tensor, observed: torch.Tensor) -> np.ndarray:
        """The encoder's token vectors ``(n, n_tokens, D)``, float64: computed in float64 (by a copy
        of the encoder made once), so that a pose's do not depend on the other poses of the call."""
        if self._float64_encoder is None:
            self._float64_encoder = float64_encoder(self.network)
        return exact_token_vectors(self.network, keypoints, observed, encoder=self._float64_encoder).numpy()

    def with_refinement(self, keypoints: torch.Tensor, observed: torch.Tensor, token_ids: np.ndarray) -> np.ndarray:
        """Token ids ``(n, n_tokens)`` followed by the refinement ids of what they leave of ``keypoints``."""
        if not self.n_stages:
            return token_ids
        residuals = token_residuals(self.network, keypoints, token_ids)
        return np.hstack([token_ids, residual_codes(residuals, observed.numpy(), self.refinement_codebooks)])

    def decode(self, ids: np.ndarray, X: np.ndarray | None = None, boxes: np.ndarray | None = None) -> np.ndarray:
        """Poses ``(n, n_dims * K)`` of ids (tokens and any number of whole refinement stages) in the units of
        the training data: with per-pose normalisation in each pose's frame, or in the frames of the
        original poses ``X`` (and their person ``boxes``) when given, or of the ``boxes`` alone."""
        poses = decode(self.network, torch.as_tensor(ids[:, : self.n_tokens])).double().numpy()
        poses += residual_offsets(ids[:, self.n_tokens :], self.refinement_codebooks)
        return self.normalizer.inverse(poses.reshape(len(ids), -1), X, boxes)

    def decode_latent(self, keypoints: torch.Tensor, observed: torch.Tensor, X: np.ndarray | None = None,
                      boxes: np.ndarray | None = None) -> np.ndarray:
        """Poses ``(n, n_dims * K)`` decoded from the encoder's continuous token vectors (not their nearest
        codes; no refinement), in the units of the training data or the frames of ``X`` / ``boxes`` as
        :meth:`decode`."""
        poses = decode_latent(self.network, keypoints, observed).double().numpy()
        return self.normalizer.inverse(poses.reshape(len(poses), -1), X, boxes)

    def residuals(self, keypoints: torch.Tensor, observed: torch.Tensor) -> np.ndarray:
        """What the whole code (tokens and refinement) leaves of ``keypoints``: ``(n, K, n_dims)``, normalised."""
        ids, _ = self.encode(keypoints, observed)
        residuals = token_residuals(self.network, keypoints, ids[:, : self.n_tokens])
        return residuals - residual_offsets(ids[:, self.n_tokens :], self.refinement_codebooks)
