"""Why (and when) pose tokens beat raw coordinates on Penn Action videos.

    python benchmarks/penn_action_ablation.py [--quick] [--cache DIR] [--json PATH]

Penn Action's official train/test split by video, frames prepared exactly as in
examples/penn_action_classification.py (box-normalised, invisible joints NaN).
Every video descriptor goes to the same classifier, a LogisticRegression whose C is
chosen by 5-fold cross-validation on the training videos (same grid for every
descriptor). For each descriptor the test accuracy is printed with the exact
McNemar p-value of its paired disagreement with the mean+std pooled coordinates.

Ablations: the video descriptor (unigram bag, TF-IDF, + token bigrams, coordinates
pooled by mean, mean+std), and the tokenizer (token count, codebook size,
normalize="dataset" or "pose"). Fitted tokenizers are cached in --cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from posetok import PoseTokenizer
from posetok.readers import load_penn_action
from posetok.video import BagOfTokens, MeanPool, split_by_group

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from penn_action_classification import DEFAULT, prepare  # noqa: E402
from report import format_row  # noqa: E402

TOKENIZERS = {  # name -> PoseTokenizer parameters (besides epochs and seed)
    "32 x 256 (default)": dict(n_tokens=32, codebook_size=256),
    "32 x 256, normalize='pose'": dict(n_tokens=32, codebook_size=256, normalize="pose"),
    "8 x 256": dict(n_tokens=8, codebook_size=256),
    "32 x 64": dict(n_tokens=32, codebook_size=64),
    "32 x 1024": dict(n_tokens=32, codebook_size=1024),
}
GRID = {"logisticregression__C": [0.1, 1.0, 10.0, 100.0, 1000.0]}


def fitted_tokenizer(name, cache, n_epochs, X):
    """The tokenizer ``name`` fitted on X, read from ``cache`` when it is there."""
    path = None
    if cache is not None:
        path = cache / f"{name.replace(' ', '').replace('=', '-').replace(',', '_')}_{n_epochs}.posetok"
    if path is not None and path.exists():
        return PoseTokenizer.load(path)
    tic = time.perf_counter()
    tok = PoseTokenizer(n_epochs=n_epochs, random_state=0, **TOKENIZERS[name]).fit(X)
    print(f"{name}: fitted in {time.perf_counter() - tic:.0f} s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tok.save(path)
    return tok


def evaluate(pipe, X_tr, y_tr, X_te, y_te):
    search = GridSearchCV(pipe, GRID, cv=StratifiedKFold(5, shuffle=True, random_state=0), n_jobs=1)
    search.fit(X_tr, y_tr)
    pred = search.predict(X_te)
    return pred, search.best_params_["logisticregression__C"]


def mcnemar(correct_a, correct_b):
    """Exact two-sided McNemar p-value of paired correctness vectors."""
    b, c = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
    return 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--quick", action="store_true", help="one tokenizer, 8 epochs")
    parser.add_argument("--cache", type=Path, default=None, help="folder for fitted tokenizers")
    parser.add_argument("--tokenizers", nargs="+", choices=sorted(TOKENIZERS), default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--stats", action="store_true",
                        help="only print token statistics of the (cached) tokenizers: how often a token "
                             "position keeps its code between consecutive frames, and the bigram vocabulary")
    args = parser.parse_args()
    data = load_penn_action(args.data)
    X, y, video, train = prepare(data)
    step, n_epochs = (8, 8) if args.quick else (3, 30)
    names = args.tokenizers or (["32 x 256 (default)"] if args.quick else list(TOKENIZERS))
    videos_tr, _, y_tr = split_by_group(X[train], video[train], y[train])
    videos_te, _, y_te = split_by_group(X[~train], video[~train], y[~train])
    print(f"{len(videos_tr)} train / {len(videos_te)} test videos; tokenizers fitted on every "
          f"{step}th training frame for {n_epochs} epochs", flush=True)

    if args.stats:
        for name in names:
            tok = fitted_tokenizer(name, args.cache, n_epochs, X[train][::step])
            ids_tr = [tok.transform(v) for v in videos_tr]
            same = np.mean(np.concatenate([(v[1:] == v[:-1]).ravel() for v in ids_tr]))
            bag = BagOfTokens(tok.codebook_size, ngram_range=(1, 2)).fit(ids_tr)
            print(f"{name}: a token position keeps its code between consecutive training frames "
                  f"{same:.1%} of the time; {tok.n_tokens * tok.codebook_size} unigram columns, "
                  f"{len(bag.vocabulary_[2])} bigram columns")
        return

    rows, preds = [], {}

    def record(tokenizer, descriptor, pipe, X_tr, X_te):
        tic = time.perf_counter()
        pred, C = evaluate(pipe, X_tr, y_tr, X_te, y_te)
        preds[(tokenizer, descriptor)] = pred == y_te
        rows.append({"tokenizer": tokenizer, "descriptor": descriptor, "accuracy": float(np.mean(pred == y_te)),
                     "C": C, "seconds": time.perf_counter() - tic})
        print(format_row(rows[-1]), flush=True)

    clf = lambda: LogisticRegression(max_iter=500)  # noqa: E731
    record("-", "coordinates, mean", make_pipeline(MeanPool(), StandardScaler(), clf()), videos_tr, videos_te)
    record("-", "coordinates, mean+std", make_pipeline(MeanPool(with_std=True), StandardScaler(), clf()),
           videos_tr, videos_te)

    for name in names:
        tok = fitted_tokenizer(name, args.cache, n_epochs, X[train][::step])
        ids_tr = [tok.transform(v) for v in videos_tr]
        ids_te = [tok.transform(v) for v in videos_te]
        V = tok.codebook_size
        descriptors = {"bag of tokens": BagOfTokens(V), "bag of tokens, tf-idf": BagOfTokens(V, tfidf=True)}
        if name == names[0]:  # bigrams are slow to classify (~10^5 columns): first tokenizer only
            descriptors["bag of token bigrams, tf-idf"] = BagOfTokens(V, tfidf=True, ngram_range=(1, 2))
        for descriptor, bag in descriptors.items():
            record(name, descriptor, make_pipeline(bag, clf()), ids_tr, ids_te)

    reference = preds[("-", "coordinates, mean+std")]
    for r in rows:
        r["mcnemar_p_vs_mean_std"] = mcnemar(preds[(r["tokenizer"], r["descriptor"])], reference)
    print()
    print("| tokenizer | video descriptor | accuracy | C | McNemar p vs mean+std coordinates |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tokenizer']} | {r['descriptor']} | {r['accuracy']:.1%} | {r['C']:g} | "
              f"{r['mcnemar_p_vs_mean_std']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
