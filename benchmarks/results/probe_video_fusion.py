"""Issue 14 probe (run as `python benchmarks/results/probe_video_fusion.py SEED`), validation split, 100 %: classifier-side variants of the recommended video recipe.
Pre-registered: A current recipe (concat pf1+pf2+motion, LR-CV); B late fusion (mean predict_proba of
one LR-CV per view); D A + coordinates (max/min pool, mirror) view; D_late late fusion of the 4 views;
E RidgeClassifierCV instead of LR-CV for coordinates mean+std and for A.
Adopt only if mean over seeds 0-2 >= A + 0.2 and no seed below A by more than one held-out video."""
import sys, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/
import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import RidgeClassifierCV
from sklearn.exceptions import ConvergenceWarning
import classification as C
from posetok import PoseTokenizer
from posetok.readers import PENN_JOINTS, load_penn_action
from posetok.symmetry import MirrorSymmetric, flip_pairs_from_names
from posetok.video import MotionTokenizer, PerFrame, TemporalPool, split_by_group

seed = int(sys.argv[1])
X, y, video, train = C.prepare(load_penn_action(C.DEFAULT))
held = C.choose_videos(video, y, train, 0.25, C.VALIDATION_SEED)
X, y, video, train = X[train], y[train], video[train], ~held[train]
sel = C.choose_videos(video, y, train, 1.0, seed)
pairs = flip_pairs_from_names(PENN_JOINTS)
videos_tr, _, yv_tr = split_by_group(X[sel], video[sel], y[sel])
videos_te, _, yv_te = split_by_group(X[~train], video[~train], y[~train])
print(f"seed {seed}: {len(videos_tr)} train videos, {len(videos_te)} held out", flush=True)
ext = TemporalPool(stats=("mean", "std", "max", "min"))
t = time.perf_counter()
tok1 = PoseTokenizer(n_epochs=10, random_state=seed).fit(X[sel][::2])
tok2 = PoseTokenizer(n_epochs=10, random_state=seed + 1000).fit(X[sel][::2])
mot = MotionTokenizer(PoseTokenizer(n_epochs=10, random_state=seed, encode="latent"), window=8, fit_stride=2).fit(videos_tr)
print(f"fits {time.perf_counter() - t:.0f} s", flush=True)
views = {}
for name, tr in [("pf1", make_pipeline(PerFrame(FrozenEstimator(tok1.set_params(encode="latent"))), ext)),
                 ("pf2", make_pipeline(PerFrame(FrozenEstimator(tok2.set_params(encode="latent"))), ext)),
                 ("motion", make_pipeline(FrozenEstimator(mot), ext)),
                 ("coords", ext)]:
    m = MirrorSymmetric(tr, pairs)
    views[name] = m.fit_transform(videos_tr), m.transform(videos_te)
cm = TemporalPool(stats=("mean", "std"), velocity_stats=())
views["coords_ms"] = cm.fit_transform(videos_tr), cm.transform(videos_te)
print(f"features {time.perf_counter() - t:.0f} s", flush=True)

def lr(names):
    f = [np.hstack([views[n][i] for n in names]) for i in (0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, FutureWarning))
        m = C.classifier().fit(f[0], yv_tr)
    return m.predict_proba(f[1]), m.classes_, float(np.ravel(m[-1].C_)[0])

def ridge(names):
    f = [np.hstack([views[n][i] for n in names]) for i in (0, 1)]
    m = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-1, 5, 13))).fit(f[0], yv_tr)
    return float((m.predict(f[1]) == yv_te).mean()), float(m[-1].alpha_)

res = {}
probs = {}
for n in ["coords_ms", "pf1", "pf2", "motion", "coords"]:
    p, cl, c = lr([n]); probs[n] = p
    res[n] = float((cl[p.argmax(1)] == yv_te).mean()); print(f"  {n:10s} {res[n]:.4f} C={c}", flush=True)
p, cl, c = lr(["pf1", "pf2", "motion"])
res["A"] = float((cl[p.argmax(1)] == yv_te).mean()); print(f"  A          {res['A']:.4f} C={c}", flush=True)
wrong = np.flatnonzero(cl[p.argmax(1)] != yv_te)
print("  A errors (true -> predicted):", [(int(yv_te[i]), int(cl[p[i].argmax()])) for i in wrong], flush=True)
pb = np.mean([probs[n] for n in ["pf1", "pf2", "motion"]], 0)
res["B"] = float((cl[pb.argmax(1)] == yv_te).mean()); print(f"  B          {res['B']:.4f}", flush=True)
p, cl, c = lr(["pf1", "pf2", "motion", "coords"])
res["D"] = float((cl[p.argmax(1)] == yv_te).mean()); print(f"  D          {res['D']:.4f} C={c}", flush=True)
pd = np.mean([probs[n] for n in ["pf1", "pf2", "motion", "coords"]], 0)
res["D_late"] = float((cl[pd.argmax(1)] == yv_te).mean()); print(f"  D_late     {res['D_late']:.4f}", flush=True)
for names, key in [(["coords_ms"], "E_coords_ms"), (["pf1", "pf2", "motion"], "E_A")]:
    res[key], a = ridge(names); print(f"  {key:10s} {res[key]:.4f} alpha={a}", flush=True)
print("RESULT", seed, res, flush=True)
