"""Favour classifier: does the writer of a sentence ask the reader a favour? (6-way, fine-tuned encoder)

Runtime only: onnxruntime + tokenizers + numpy (no torch, no transformers). The model is a fine-tuned
MiniLM-L6 sentence encoder (all-MiniLM-L6-v2, Apache-2.0: mean pooling + a 6-way linear head),
exported to ONNX and shipped in ``outreach/signals/model/favour/``; importing this module loads
nothing, :meth:`FavourModel.load` loads it once per process.

Labels (:data:`LABELS`, the columns of :meth:`FavourModel.probabilities`)
--------------------------------------------------------------------------
* ``favour_ask`` — the writer (or the writer's side) asks the reader(s) to do or give something: an
  action, information, a decision, a review, a meeting or call, a document, forwarding. A compound
  sentence containing an ask is an ask; "let me know if this works" is an ask; a real question whose
  answer the writer needs is an ask.
* ``offer`` — the writer offers help, availability or something ("Let me know if you have any
  questions", "Please feel free to call me"); help-desk contact lines too.
* ``commitment`` — the writer commits to a future action ("I will send the figures tomorrow").
* ``thanks`` — gratitude that names what it is for ("Thanks for your help today"); a bare "Thanks" is
  ``other``.
* ``bulk_cta`` — a call to action in mass or automated mail ("Click here to update your preferences").
* ``other`` — everything else: statements, rhetorical/social questions, requests relayed from a third
  party ("Jim would like to meet"), presentational directives ("Please see attached", "Please note").

Decision (:meth:`FavourModel.classify`)
---------------------------------------
The shipped model decides by argmax: it is fine-tuned on all 1,500 training sentences and
``meta.json["thresholds"]`` is empty. A model built with ``--cal-fraction F > 0`` holds out a share
F of its sentences and records a fitted ``thresholds["favour_ask"]``: then ``favour_ask`` when its
probability reaches that threshold, else the most probable of the other five labels
(:func:`decide`). Measured in nested CV (below), holding out 20 % to fit the threshold cost more
F1 (fewer training sentences, a noisy threshold: 0.25-0.85 across folds) than it gained.

The int8 model scores one sentence per onnxruntime call: dynamic quantisation scales activations
per call, so a sentence batched with others would score slightly (up to ~0.03) differently than
alone. An fp32 model is scored in length-sorted batches of :data:`BATCH_SIZE`.

Cascade (:func:`classify_cascade`)
----------------------------------
The encoder is far slower than the sync, so a fast first stage (:func:`needs_encoder`, pure Python
+ linear weights from ``gate.json``) labels the clear cases ``other``: a logistic model over the ask
detector's word n-gram and clause-start features plus a few cue flags (:func:`gate_features`)
scores "not other"; sentences under ``gate["threshold"]`` (fitted on 5-fold out-of-fold scores of
the training sentences so that >= 98 % of their favour asks still reach the encoder) are ``other``
without the encoder; the rest are classified by the encoder.

Measured (``scripts/train_favour_model.py --cv`` / ``--bench``; details in ``cv.json``)
--------------------------------------------------------------------------------------
Nested CV, seed 0, everything fitted inside each training split; favour_ask P / R / F1:

* stratified 5-fold: int8 0.822 / 0.801 / 0.811, fp32 0.790 / 0.832 / 0.811, cascade (gate + int8)
  0.825 / 0.801 / 0.812 (the gate passes 97 % of the asks); seed 1: int8 0.799 / 0.814 / 0.806,
  cascade 0.810 / 0.814 / 0.812; mean of the 2 seeds int8 F1 0.808, cascade 0.812. Target F1 >= 0.82 at P >= 0.80:
  precision met, F1 short by ~0.01.
* leave-one-mailbox-out (train on 3 custodians, test on the 4th): int8 0.782 / 0.793 / 0.787, fp32
  0.763 / 0.795 / 0.779, cascade 0.784 / 0.793 / 0.788: on unseen mailboxes expect F1 ~0.79 and
  precision just under 0.80 (per mailbox F1 0.77-0.81).
* other labels (5-fold, int8): offer F1 0.78, thanks 0.75, bulk_cta 0.57, commitment 0.47. bulk_cta
  depends on who the mail went to, which the sentence does not carry.

Real mail (the four Enron mailboxes of ``shared/data``, own text, crude sentence split): 19,936
sentences, 7,042 (35 %) reach the encoder. Per CPU second of one core: gate ~45,000 sentences/s,
int8 encoder ~620 sentences/s (fp32 ~360), whole cascade ~1,700 sentences/s. RSS of a process
holding the int8 model ~127 MB (50 MB before loading; fp32 ~286 MB). int8 ``model.onnx`` 22.9 MB
(fp32 90.4 MB) at no measured loss of F1.

Rebuild
-------
``scripts/train_favour_model.py`` (training extra: ``pip install -e '.[train]'``) checks the sha256
of the training sentences and of the MiniLM weights, fine-tunes with fixed seeds (one torch
thread), exports ONNX, quantises to int8, fits the gate and writes ``model.onnx``,
``tokenizer.json``, ``gate.json`` and ``meta.json``; ``--cv`` writes the nested cross-validation
report ``cv.json`` instead, ``--refresh-cv`` copies its summary into ``meta.json``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

LABELS: tuple[str, ...] = ("favour_ask", "offer", "commitment", "thanks", "bulk_cta", "other")
"""Column order of :meth:`FavourModel.probabilities`."""

MAX_LEN = 64
"""Tokens per sentence, [CLS] and [SEP] included; longer sentences are truncated."""

BATCH_SIZE = 32
_MODEL_PACKAGE = "outreach.signals.model.favour"
_FAVOUR = LABELS.index("favour_ask")

FloatArray = npt.NDArray[np.float32]


def _softmax(logits: npt.NDArray[np.floating[Any]]) -> FloatArray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


class FavourModel:
    """The fine-tuned encoder (one or more members, whose probabilities are averaged) + its decision
    thresholds. Use :meth:`load` for the shipped model."""

    def __init__(
        self, members: bytes | Path | Sequence[bytes | Path], tokenizer_json: str, meta: dict[str, Any]
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = False  # one sentence a call: the arena only kept memory (same scores)
        # a member is the model's bytes or, lighter (onnxruntime then keeps no copy of the bytes), its file
        listed = [members] if isinstance(members, bytes | Path) else list(members)
        self._sessions = [
            ort.InferenceSession(m if isinstance(m, bytes) else str(m), options, providers=["CPUExecutionProvider"])
            for m in listed
        ]
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self.max_len = int(meta.get("max_len", MAX_LEN))
        self._tokenizer.enable_truncation(self.max_len)
        self._tokenizer.no_padding()
        self.meta = meta
        labels = tuple(meta.get("labels", LABELS))
        if labels != LABELS:
            raise ValueError(f"model labels {labels} differ from {LABELS}")
        self.thresholds: dict[str, float] = {k: float(v) for k, v in meta.get("thresholds", {}).items()}
        # int8 dynamic quantisation scales activations per call, so a sentence batched with others
        # would score slightly differently than alone: an int8 model scores one sentence per call
        self.batch_size = 1 if meta.get("precision") == "int8" else BATCH_SIZE

    @classmethod
    def load(cls) -> FavourModel:
        """The shipped model (package data), loaded once per process (until :meth:`release`)."""
        return _load_shipped()

    @classmethod
    def release(cls) -> None:
        """Let the shipped model go (about 70 MB); the next :meth:`load` reads it again. A refinement
        calls this before the ledger refresh that follows it, so that one process never holds both."""
        _load_shipped.cache_clear()

    @classmethod
    def from_dir(cls, directory: Path | str) -> FavourModel:
        """A model directory as written by ``scripts/train_favour_model.py`` (not cached)."""
        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        members = [d / name for name in meta.get("members", ["model.onnx"])]
        return cls(members, (d / "tokenizer.json").read_text(encoding="utf-8"), meta)

    @property
    def version(self) -> str:
        return _version_of(self.meta)

    def probabilities(self, sentences: Sequence[str]) -> FloatArray:
        """Probabilities of :data:`LABELS`, shape (len(sentences), 6), rows in input order."""
        n = len(sentences)
        out = np.zeros((n, len(LABELS)), dtype=np.float32)
        if n == 0:
            return out
        encodings = self._tokenizer.encode_batch([s if isinstance(s, str) else str(s) for s in sentences])
        ids = [e.ids for e in encodings]
        # sorted by length so that each batch pads little; stable, so results do not depend on order
        order = sorted(range(n), key=lambda i: len(ids[i]))
        for start in range(0, n, self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                seq = ids[i]
                input_ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask}
            probs = [_softmax(np.asarray(s.run(["logits"], feed)[0])) for s in self._sessions]
            out[chunk] = np.mean(probs, axis=0) if len(probs) > 1 else probs[0]
        return out

    def decide(self, probabilities: npt.NDArray[np.floating[Any]]) -> list[str]:
        """Labels from :meth:`probabilities` output, applying the fitted thresholds."""
        return decide(probabilities, self.thresholds)

    def classify(self, sentences: Sequence[str]) -> list[str]:
        """One label of :data:`LABELS` per sentence."""
        return self.decide(self.probabilities(sentences))


def decide(probabilities: npt.NDArray[np.floating[Any]], thresholds: dict[str, float]) -> list[str]:
    """``favour_ask`` where its probability reaches its threshold, else the most probable other label."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape[0] == 0:
        return []
    t = thresholds.get("favour_ask")
    rest = p.copy()
    rest[:, _FAVOUR] = -1.0
    best_rest = rest.argmax(axis=1)
    chosen = p.argmax(axis=1) if t is None else np.where(p[:, _FAVOUR] >= t, _FAVOUR, best_rest)
    return [LABELS[int(j)] for j in chosen]


def _read_resource(name: str) -> bytes:
    return resources.files(_MODEL_PACKAGE).joinpath(name).read_bytes()


@functools.cache
def _shipped_meta() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(_read_resource("meta.json").decode("utf-8"))
    return meta


@functools.cache
def _load_shipped() -> FavourModel:
    meta = _shipped_meta()
    root = resources.files(_MODEL_PACKAGE)
    members: list[bytes | Path] = []
    for name in meta.get("members", ["model.onnx"]):
        found = root.joinpath(name)
        # installed as files (the usual case): onnxruntime reads the file itself and keeps no copy of it
        members.append(found if isinstance(found, Path) else found.read_bytes())
    return FavourModel(members, _read_resource("tokenizer.json").decode("utf-8"), meta)


def _version_of(meta: dict[str, Any]) -> str:
    shas = [str(s) for s in meta.get("members_sha256", {}).values()] or [str(meta.get("model_sha256", "unknown"))]
    digest = shas[0] if len(shas) == 1 else hashlib.sha256("".join(shas).encode()).hexdigest()
    return f"favour-{meta.get('format', 1)}-{digest[:8]}"


def model_version() -> str:
    """Version of the shipped model, e.g. ``favour-1-3fa2c9d0`` (format + sha256 of model.onnx, or of the
    members' sha256s for an ensemble)."""
    return _version_of(_shipped_meta())


# ---------------------------------------------------------------------------------------------
# Cascade: a fast gate decides the clear "other" sentences, the encoder the rest
# ---------------------------------------------------------------------------------------------


_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CUE_WORDS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (name, frozenset(words.split()))
    for name, words in (
        ("you", "you your yours you're you'll you've you'd u"),
        ("please", "please pls plz kindly"),
        ("need", "need needs needed require required requires"),
        ("modal", "can could would will should might may"),
        ("wonder", "wonder wondering curious"),
        ("want", "want wanted wants like hope hoping"),
        ("thank", "thank thanks thx appreciate appreciated grateful"),
        ("commit", "i'll we'll shall"),
        ("act", "help assist call contact send forward review reply respond confirm advise check"),
        ("remind", "remind reminder asap status update"),
        ("click", "click visit register subscribe unsubscribe"),
    )
)
_CUE_PHRASES: tuple[tuple[str, str], ...] = (
    ("letknow", "let me know"),
    ("letknow", "let us know"),
    ("commit", "i will"),
    ("commit", "we will"),
    ("commit", "going to"),
    ("q", "?"),
)


def gate_features(sentence: str) -> set[str]:
    """The gate's features: the ask detector's (:func:`outreach.signals.ask.featurize`: word
    unigrams/bigrams, clause-start cues, sentence end, length) plus a few request/offer/thanks/
    commitment/call-to-action cue flags (``cue_*``, one per kind of cue found)."""
    from outreach.signals.ask import featurize

    feats = featurize(sentence)
    lower = sentence.lower()
    words = set(_WORD_RE.findall(lower))
    for name, cue_words in _CUE_WORDS:
        if not words.isdisjoint(cue_words):
            feats.add("cue_" + name)
    for name, phrase in _CUE_PHRASES:
        if phrase in lower:
            feats.add("cue_" + name)
    return feats


class Gate:
    """Logistic "not other" score over :func:`gate_features`."""

    def __init__(self, weights: dict[str, float], bias: float, threshold: float) -> None:
        self.weights = weights
        self.bias = bias
        self.threshold = threshold

    @classmethod
    def from_json(cls, text: str) -> Gate:
        d = json.loads(text)
        return cls({str(k): float(v) for k, v in d["weights"].items()}, float(d["bias"]), float(d["threshold"]))

    def to_json(self) -> str:
        return json.dumps(
            {"bias": self.bias, "threshold": self.threshold, "weights": dict(sorted(self.weights.items()))},
            indent=0,
            sort_keys=True,
        )

    def score(self, sentence: str) -> float:
        w = self.weights
        z = self.bias + sum(w.get(f, 0.0) for f in gate_features(sentence))
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def needs_encoder(self, sentence: str) -> bool:
        return bool(sentence.strip()) and self.score(sentence) >= self.threshold


@functools.cache
def _load_gate() -> Gate:
    return Gate.from_json(_read_resource("gate.json").decode("utf-8"))


def needs_encoder(sentence: str) -> bool:
    """False for sentences the fast gate labels ``other`` by itself (no request, offer, thanks,
    commitment or call-to-action cue worth the encoder's time); True where the encoder must decide."""
    return _load_gate().needs_encoder(sentence)


FAST_LABEL = "other"
"""The label of every sentence for which :func:`needs_encoder` is False."""


def classify_cascade(sentences: Sequence[str], model: FavourModel | None = None, gate: Gate | None = None) -> list[str]:
    """Like :meth:`FavourModel.classify`, but only the sentences that :func:`needs_encoder` passes
    reach the encoder; the others are :data:`FAST_LABEL`. The model is loaded only if needed."""
    g = gate if gate is not None else _load_gate()
    labels = [FAST_LABEL] * len(sentences)
    hard = [i for i, s in enumerate(sentences) if g.needs_encoder(s)]
    if hard:
        m = model if model is not None else FavourModel.load()
        for i, label in zip(hard, m.classify([sentences[i] for i in hard]), strict=True):
            labels[i] = label
    return labels
