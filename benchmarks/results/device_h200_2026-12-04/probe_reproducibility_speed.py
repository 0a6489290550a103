import os
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
sys.path.insert(0, os.getcwd())
import numpy as np
import torch
from sklearn.base import clone

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures
from tests.conftest import TINY

X, _ = make_stick_figures(600, random_state=0)
for det in (False, True):
    torch.use_deterministic_algorithms(det)
    for cfg in [dict(encode="latent"), dict(codebooks="per_token", encode="latent"),
                dict(encode="latent", mask_probability=0.3, refinement_stages=1)]:
        try:
            a = PoseTokenizer(**TINY, **cfg, device="cuda").fit(X)
            b = clone(a).fit(X)
            d = np.abs(a.transform(X) - b.transform(X)).max()
            print("deterministic" if det else "default", cfg, "max diff", d, flush=True)
        except Exception as e:
            print("deterministic" if det else "default", cfg, "ERROR", type(e).__name__, str(e)[:300], flush=True)
torch.use_deterministic_algorithms(False)
X, _ = make_stick_figures(100000, random_state=0)
for b in (512, 8192):
    t = PoseTokenizer(n_epochs=2, batch_size=b, random_state=0, device="cuda").fit(X)
    print("default model, 100000 poses, batch", b, "s/epoch", [round(h["time"], 2) for h in t.history_],
          "error", round(-t.score(X[:2000]), 3), flush=True)
