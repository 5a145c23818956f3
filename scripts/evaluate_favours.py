"""Out-of-fold figures of the product's final signals on favour-train: what ``analyse_texts`` returns for
each labelled sentence when the sentence classifier and its gate were trained without that sentence.

``train_favour_model.py --cv`` scores the classifier alone.  The product's answer is the classifier merged
with the pattern rules and the fast ask detector (:mod:`outreach.signals.favours`), on the zoned, split,
language-checked text; this script scores that answer with the same folds, reusing the out-of-fold
probabilities the CV cached (``--cache``, ``kfold-s{seed}-cal0-fold{j}.npz`` and ``lomo-…``): per fold, the
gate is refitted on the training split and the classifier's label of a sentence is its out-of-fold one
(every piece of a sentence the splitter cuts gets the label of the whole).  With several seeds the members'
probabilities are averaged, as the shipped ensemble does.

    python scripts/evaluate_favours.py --cache /tmp/favour-cv --seeds 0 1

Prints, per scheme: favour_ask P/R/F1 of the final signals, of the classifier alone (cascade) and of the
fast reading (rules + fast detector, no classifier), the other labels' F1 and the confusion matrix.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_favour_model as tf  # noqa: E402

from outreach.signals import favours  # noqa: E402
from outreach.signals.analyse import analyse_texts  # noqa: E402
from outreach.signals.favour import LABELS  # noqa: E402


def oof_probabilities(data: tf.Data, scheme: str, seed: int, cache: Path) -> np.ndarray:
    """The classifier's out-of-fold probabilities of every sentence (int8), from the CV's cache."""
    probs = np.full((len(data.texts), len(LABELS)), np.nan)
    for name, _ in tf.cv_folds(data, scheme, seed):
        z = np.load(cache / f"{scheme}-s{seed}-cal0-{name}.npz")
        probs[z["test"]] = z["p8"]
    if np.isnan(probs).any():
        raise SystemExit(f"{cache}: the {scheme} folds of seed {seed} do not cover every sentence")
    return probs


def _oof_classifier(label: str) -> Callable[[Sequence[str]], None]:
    def classify(sentences: Sequence[str]) -> None:
        favours._labels.update(dict.fromkeys(sentences, (label, 1.0)))

    return classify


def final_labels(data: tf.Data, scheme: str, seeds: Sequence[int], cache: Path) -> dict[str, np.ndarray]:
    n = len(data.texts)
    # averaged over the seeds like the shipped ensemble: each is out of fold, so their mean is too
    oof = np.mean([oof_probabilities(data, scheme, seed, cache) for seed in seeds], axis=0).argmax(axis=1)
    final = np.full(n, -1, dtype=np.int64)
    fast = np.full(n, -1, dtype=np.int64)
    cascade = np.full(n, -1, dtype=np.int64)
    for _, test in tf.cv_folds(data, scheme, seeds[0]):
        train = np.setdiff1d(np.arange(n), test)
        gate = tf.fit_gate([data.texts[i] for i in train], data.y[train], seeds[0])  # the first member's
        favours._needs_encoder = gate.needs_encoder
        for i in test:
            text, label = data.texts[i], LABELS[oof[i]]
            cascade[i] = oof[i] if gate.needs_encoder(text) else LABELS.index("other")
            favours._labels.clear()
            # the out-of-fold label, for every piece of the sentence the splitter cuts
            favours._classify = _oof_classifier(label)  # type: ignore[assignment]
            (result,) = analyse_texts([text])
            final[i] = LABELS.index(result.favour_label())
            (quick,) = analyse_texts([text], refine=False)
            fast[i] = LABELS.index(quick.favour_label())
    return {"final": final, "cascade": cascade, "fast": fast}


def report(data: tf.Data, preds: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, pred in preds.items():
        out[variant] = tf.summarise(pred, data.y)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=tf.DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, required=True, help="the --cache of train_favour_model.py --cv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--schemes", nargs="+", default=["kfold", "lomo"])
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    data = tf.load_data(args.data)
    figures: dict[str, Any] = {"seeds": args.seeds}
    for scheme in args.schemes:
        preds = final_labels(data, scheme, args.seeds, args.cache)
        figures[scheme] = report(data, preds)
        print(f"-- {scheme}, seeds {args.seeds}")
        for variant, entry in figures[scheme].items():
            per = entry["per_label"]
            fa = per["favour_ask"]
            rest = "  ".join(f"{lab} {per[lab]['F1']:.3f}" for lab in ("offer", "thanks", "bulk_cta", "commitment"))
            print(f"  {variant:<8} favour_ask P {fa['P']:.3f} R {fa['R']:.3f} F1 {fa['F1']:.3f}   F1: {rest}")
        print(tf.format_confusion(figures[scheme]["final"]["confusion"]))
        if scheme == "lomo":
            figures[scheme]["final_by_mailbox"] = {}
            for mailbox in sorted(set(data.custodian)):
                rows = np.array(data.custodian) == mailbox
                p, r, f = tf.prf(preds["final"][rows], data.y[rows], LABELS.index("favour_ask"))
                figures[scheme]["final_by_mailbox"][mailbox] = {"P": round(p, 3), "R": round(r, 3), "F1": round(f, 3)}
                print(f"  held-out {mailbox}: favour_ask P {p:.3f} R {r:.3f} F1 {f:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
