#!/usr/bin/env python3
"""Rebuild the shipped ask model, or cross-validate the training recipe.

    .venv/bin/python scripts/train_ask_model.py                 # writes outreach/signals/model/ask/model.json
    .venv/bin/python scripts/train_ask_model.py --cv 10         # stratified 10-fold CV, writes nothing

DATA defaults to ../shared/data/asks/parakweet-train.jsonl relative to the repo root (lines of
{"id": ..., "text": ..., "ask": true|false}). CPU only, numpy only, fixed seeds: the same data gives
byte-identical model files. Hyperparameters (L2, inner folds, target precision) live in
outreach/signals/ask_training.py and were fixed by reasoning / on an inner split, not tuned on these CV folds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from outreach.signals import ask, ask_training  # noqa: E402

DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "asks" / "parakweet-train.jsonl"
DEFAULT_OUT = REPO_ROOT / "outreach" / "signals" / "model" / "ask"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="labelled sentences (jsonl)")
    parser.add_argument("--cv", type=int, metavar="K", help="report stratified K-fold CV instead of training")
    parser.add_argument(
        "--seed",
        type=int,
        default=ask_training.SEED,
        help=f"fold/calibration seed (default {ask_training.SEED})",
    )
    parser.add_argument("--inner-k", type=int, default=5, help="inner folds for threshold calibration")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model directory to write")
    args = parser.parse_args(argv)

    texts, labels = ask_training.load_jsonl(args.data)
    print(f"{args.data.resolve()}: {len(texts)} sentences, {sum(labels)} asks", flush=True)
    started = time.perf_counter()
    if args.cv:
        report = ask_training.cross_validate(texts, labels, k=args.cv, seed=args.seed, inner_k=args.inner_k)
        print(f"stratified {args.cv}-fold CV (threshold calibrated inside each training split):")
        print(report.format())
    else:
        model = ask_training.train_model(
            texts,
            labels,
            inner_k=args.inner_k,
            seed=args.seed,
            meta={"data": args.data.name, "data_sha256": ask_training.file_sha256(args.data)},
        )
        path = model.save(args.out)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): {len(model.weights)} weights, "
            f"threshold {model.threshold:.2f}"
        )
        if abs(model.threshold - ask.ASK_THRESHOLD) > 1e-9:
            print(f"NOTE: update ask.ASK_THRESHOLD to {model.threshold:.2f} (it says {ask.ASK_THRESHOLD})")
    print(f"took {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
