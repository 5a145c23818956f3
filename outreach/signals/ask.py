"""Ask detection: is the writer of a sentence asking the reader to do or give something?

One prediction per sentence, so every signal can point at its sentence. Three layers:

1. **Model** (:func:`featurize` + a linear model): lower-cased word unigrams and bigrams with
   sentence boundary markers (after URLs, e-mail addresses, amounts and numbers are replaced by
   placeholders and a leading salutation/vocative such as "Hi Laura:" is stripped), plus
   structural cues: how each clause starts (imperative verb, "please"+verb, modal + pronoun
   inversion "could you", wh-word), sentence ends with "?"/"!", length bucket, all-caps.
   Weights are a plain L2 logistic regression fitted with numpy (L-BFGS), no other dependency.
   The decision threshold is calibrated on inner cross-validation of the training data so that
   precision stays >= :data:`~outreach.signals.ask_training.TARGET_PRECISION` (see
   :func:`~outreach.signals.ask_training.calibrate_threshold`; the training code is in
   :mod:`outreach.signals.ask_training`, this module only loads and runs the shipped model).
2. **Rules** where they know better than the data: unmistakable polite-request constructions,
   too rare in the training set for the model to weigh them reliably ("I'd appreciate it if
   you…", "if you could…", "it would be great if you…", "would you mind…", "I need you to…",
   "Could you send/review/… ?"), floor the score at :data:`RULE_FLOOR`.
3. **Annotation** of the asks, rule based: :func:`ask_subtype` (share, introduce, meet, review,
   reply, information, favour, other) and :func:`is_personal` (False for generic bulk calls to
   action such as "Click here to…", "Act now", "Call today!").

Training data and labelling convention
--------------------------------------
Trained on the Parakweet Labs sentences from Enron mail (Apache-2.0), 3,657 sentences, 47 % asks.
Labels are noisy; reading the errors showed the convention to be roughly:

* direct requests, imperatives and "please …" addressed to the reader are asks, including many
  newsletter calls to action ("Give us a call or chat with us today!", "Upgrade to premium…") —
  but not consistently: "Click here to receive…", "Act now…" and most "to ensure delivery,
  please add us to your address book" boilerplate are labelled *not* ask. So marketing CTAs are
  NOT reliably separated by the label; :func:`is_personal` does that job instead.
* questions seeking information or a decision are asks; rhetorical / marketing questions
  ("Do you want to make a difference?", "Wow, can you believe only a week?") are not.
* proposals to meet ("Monday lunch?", "Let's discuss first thing") are asks; statements about
  plans ("We have dinner reservations for Saturday") are not.
* some commitments by the writer ("I shall call you Friday") and "please find attached"
  are labelled ask, others are not: a share of the remaining errors is label noise.

Measured accuracy (thresholds re-calibrated inside every training split, so these are honest
nested estimates; ``scripts/train_ask_model.py --cv 10``):

* 10-fold stratified CV on all 3,657 sentences, pooled: **P 0.867, R 0.777, F1 0.820**
  (per-fold F1 0.748-0.850, sd 0.028).
* A 20 % stratified hold-out, set aside before any feature work and scored once at the end
  (model trained on the other 80 %): P 0.856, R 0.759, F1 0.804.
* The accuracy guard's cheaper recipe (5 folds, 3 inner folds): P 0.875, R 0.760, F1 0.814.

The target of F1 0.85 at precision >= 0.85 is NOT reached. For reference on this data: the naive
regex reaches F1 ~0.62, TF-IDF + logistic regression ~0.74. Also tried, on inner splits of the 80 %
development part: word trigrams, character 3-5-grams (alone and in an ensemble), ~30 hand-written
cue regexes as extra features, an embedding-bag MLP, an ensemble of LR + MLP, naive-Bayes-scaled
features, and dropping training sentences whose label the model confidently contradicts
(noisy-label filtering). None improved the non-nested inner-CV F1 (~0.81) beyond noise, nor did
forcing rule decisions for "let me know", "please send…", or bulk-mail boilerplate: on this
labelling the model already agrees with those rules as often as the labels do. The remaining errors
are dominated by inconsistent labels (above) and by sentences whose ask-ness depends on context the
sentence does not carry.
Also tried later, as nested 10-fold CV on the same folds as above (threshold, and stacker weights
where any, fitted on 5 inner folds of each training split only; pooled P / R / F1, shipped LR 0.867 /
0.777 / 0.820; run with a throwaway harness, not kept in the repo); none gains the +0.01 F1 that
would beat noise, so none is used:

* skip-bigram features ("w1 _ w3") added to the LR: 0.865 / 0.781 / 0.821.
* conjunctions of the sentence end ("?", "!", other) with the clause-start cues: 0.867 / 0.775 / 0.818.
* lower L2 (0.1) on the structural cue features, 1.0 on n-grams: 0.869 / 0.760 / 0.811.
* label smoothing (targets 0.95 / 0.05): 0.866 / 0.766 / 0.813.
* LR weights averaged over 10 bootstrap resamples: 0.861 / 0.775 / 0.816.
* spaCy textcat from scratch (blank "en", no vectors, seed 0, batch 32, dropout 0.2), TextCatBOW.v3
  bigrams, 10 epochs: 0.863 / 0.703 / 0.775; averaged with LR 0.819; stacked with LR 0.822.
* the same with TextCatBOW.v3 trigrams: 0.870 / 0.710 / 0.782; stacked with LR 0.868 / 0.786 / 0.825
  (per-fold gain +0.005, se 0.003); and LR + this scores only ~8,000 sentences/s on one core.
* TextCatEnsemble.v2 (MultiHashEmbed + maxout CNN, width 64, + unigram BOW), 8 epochs: 0.819 / 0.706
  / 0.758; stacked with LR 0.822; ~3,600 sentences/s alone (TextCatCNN similar, ~1,700/s).
* word clusters learned from unlabelled in-domain text (the own text of the four Enron mailboxes in
  ``shared/data`` plus the training sentences without labels, 334k tokens): PPMI (window 2) + 100-dim
  SVD + k-means.  Cluster ids at K=100 and K=500, singly and in pairs: 0.865 / 0.728 / 0.791; K=500
  ids only: 0.869 / 0.770 / 0.817; the sentence's mean SVD vector as dense features: 0.878 / 0.755 /
  0.811.  Even with hindsight thresholds the ranking is worse (AUC 0.899-0.908 vs 0.911): so little
  text gives noisy clusters (to / will / please / can / would / could land in one), and the published
  gains of clusters used millions of words, which cannot be had here.
* self-training on the same unlabelled mail (14,696 sentences, none of them a training sentence): fit,
  add the sentences scored >= 0.95 as asks and <= 0.05 as not (~7,000, 9 % asks), fit again, with the
  threshold calibrated the same way inside: 0.870 / 0.768 / 0.816; adding only the >= 0.9 ones as asks:
  0.868 / 0.772 / 0.817.
* crude stems (suffixes -s, -ed, -ing, -ly … stripped) as extra unigram features: 0.864 / 0.766 / 0.812;
  stemmed unigrams and bigrams: 0.864 / 0.767 / 0.812.

Throughput (one core of this shared 2-core machine, Python 3.11, the training sentences as input,
average 16.5 words): **~35,000 sentences/s** for :meth:`AskDetector.score` / :meth:`is_ask` and
~22,000/s for :meth:`AskDetector.detect` when 47 % of the input are asks (subtype and personal
rules run only on asks, so on ordinary mail it is closer to the score figure). Loading the model
takes ~20 ms. No pre-filter is used: every sentence is scored, so none costs recall. Input
longer than :data:`MAX_CHARS` characters is truncated before featurizing, which bounds the cost
of pathological "sentences". All rule regexes run on lower-cased text without ``re.I`` (2-4x
faster in CPython's ``re``).

Model files: ``model/ask/model.json`` (0.9 MB: 40,804 weights, bias, threshold, metadata),
rebuilt byte-identically by ``scripts/train_ask_model.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ASK_THRESHOLD",
    "MODEL_VERSION",
    "RULE_FLOOR",
    "AskDetector",
    "AskModel",
    "AskPrediction",
    "AskSubtype",
    "ask_subtype",
    "featurize",
    "get_detector",
    "is_personal",
]

MODEL_VERSION: Final = "ask-lr-1"
#: Probability threshold of the shipped model (calibrated by training; ``model.json`` holds the same
#: value and a test checks they agree).
ASK_THRESHOLD: Final = 0.54
#: Score given at least to sentences that match an unmistakable request construction.
RULE_FLOOR: Final = 0.9
MAX_CHARS: Final = 1000

MODEL_PACKAGE: Final = "outreach.signals"
MODEL_SUBDIR: Final = ("model", "ask")
MODEL_FILE: Final = "model.json"

# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"\$link|https?://\S+|www\.\S+|<[^<>\s]+>|[\w.+-]+@[\w-]+\.[\w.]+|\$\s?\d[\d,.]*|\d+(?:[.,:/-]\d+)*"
    r"|[a-z]+(?:'[a-z]+)?|[?!]|[,;:.]|--+| - "
)
_SALUTATION_RE: Final = re.compile(
    r"(?:(?:hi|hey|hello|dear|good morning|morning|ok|okay|yes|no|sure|guys|all|folks)\b[\s,:!-]*)?"
    r"(?:[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\s*(?:[,:]|--?)\s+)?"
)
_BASE_VERBS_TEXT: Final = """
    add advise approve arrange ask attach attend bring book buy call cc change check choose clarify
    come confirm consider contact coordinate copy cover deliver direct discuss do draft drop e-mail
    email enter explain fax feel fill find fix follow forward get give go grab have help hold
    include inform introduce join keep leave let list look mail make mark meet mention note notify
    order page pass pick plan post prepare print provide pull put read recommend refer register
    remember remind remove reply report reschedule respond return review run save schedule see sell
    send set share show sign speak spread start stop submit suggest take talk tell text think touch
    try update use verify visit vote wait watch write"""
#: Verbs whose base form starting a clause makes an imperative ("Send…", "Please review…").
_BASE_VERBS: Final = frozenset(_BASE_VERBS_TEXT.split())
_MODALS: Final = frozenset("could can would will should may might shall do did are is have".split())  # noqa: SIM905
_PRONOUNS: Final = frozenset("you u ya y'all we i someone anyone somebody anybody they he she".split())  # noqa: SIM905
_WH: Final = frozenset("what when where who whom why how which whose".split())  # noqa: SIM905
_CLAUSE_BREAK: Final = frozenset([",", ";", ":", ".", "!", "?", " - "])
_DROP: Final = frozenset([",", ";", ":", ".", " - "])
_LEAD: Final = frozenset("please pls plz kindly just also and so then but".split())  # noqa: SIM905


def _norm_token(tok: str) -> str:
    c = tok[0]
    if c.isalpha():
        if (c == "h" and tok.startswith("http")) or (c == "w" and tok.startswith("www.")):
            return "_url_"
        if "@" in tok:
            return "_email_"
        return tok
    if c == "$":
        return "_url_" if tok == "$link" else "_money_"
    if c.isdigit():
        return "_num_"
    if c == "<":
        return "_url_"
    if "@" in tok:
        return "_email_"
    if c == "-" and tok != "-":
        return " - "
    return tok


def _length_bucket(n: int) -> str:
    if n <= 3:
        return "len:1"
    if n <= 6:
        return "len:2"
    if n <= 12:
        return "len:3"
    if n <= 25:
        return "len:4"
    if n <= 40:
        return "len:5"
    return "len:6"


def featurize(text: str) -> set[str]:
    """The model's features of one sentence (binary: a set of feature names)."""
    return _features(text.strip()[:MAX_CHARS])


def _features(raw: str) -> set[str]:
    feats: set[str] = set()
    m = _SALUTATION_RE.match(raw)
    if m is not None and 0 < m.end() < len(raw):
        feats.add("x_voc")
        body = raw[m.end() :]
    else:
        body = raw
    toks = [t if t.isalpha() else _norm_token(t) for t in _TOKEN_RE.findall(body.lower())]
    words = [t for t in toks if t not in _DROP]
    n = len(words)
    feats.update(words)
    seq = ["<s> "]
    seq += [t + " " for t in words]
    words.append("</s>")
    feats.update([a + b for a, b in zip(seq, words, strict=True)])
    # how each clause starts
    start = True
    first = True
    ntok = len(toks)
    for i in range(ntok):
        t = toks[i]
        if t in _CLAUSE_BREAK:
            start = True
            continue
        if start:
            start = False
            w1 = toks[i + 1] if i + 1 < ntok else "</s>"
            feats.add("cs:" + t)
            if first:
                feats.add("s0:" + t + " " + w1)
            if t in _BASE_VERBS or (t in _LEAD and w1 in _BASE_VERBS):
                feats.add("x_imp0" if first else "x_imp")
            elif t in _MODALS and w1 in _PRONOUNS:
                feats.add("x_inv:" + w1)
            elif t in _WH:
                feats.add("x_wh")
            first = False
    if raw.endswith("?"):
        feats.add("x_endq")
    elif "?" in raw:
        feats.add("x_hasq")
    if raw.endswith("!"):
        feats.add("x_endx")
    feats.add(_length_bucket(n))
    if n > 2 and raw.isupper():
        feats.add("x_caps")
    return feats


# ---------------------------------------------------------------------------------------------
# Rules (all patterns run on the lower-cased sentence: case-insensitive regexes are 2-4x slower)
# ---------------------------------------------------------------------------------------------

_RULE_ASK_RE: Final = re.compile(
    r"\b(?:i|we)(?:'d| would)? (?:really |greatly |much |truly )?appreciate (?:it )?(?:very much )?"
    r"if (?:you|u)\b"
    r"|\b(?:would|do) you mind\b"
    r"|\b(?:i|we) (?:really )?need (?:you|u) to\b"
    r"|(?<!what )\bif (?:you|u) could\b|\bgrateful if (?:you|u)\b"
    r"|\bwondering if (?:you|u) (?:could|can|would)\b"
    r"|\bwould be (?:great|helpful|very helpful|nice|wonderful|fantastic|appreciated) if (?:you|u)\b"
)
#: "Could you send…?", "John, can you review…?" (used with .match: anchored at the start)
_RULE_ASK_QUESTION_RE: Final = re.compile(
    r"(?:[^,:;.?!]{0,40}[,:] ?)?(?:could|can|would|will) (?:you|u) (?:please |kindly |possibly )?"
    r"(?:send|forward|call|email|e-mail|review|check|confirm|introduce|share|give|tell|help|let|look|get|"
    r"set up|arrange|schedule|provide|sign|approve|reply|respond|join|meet|attend|put me)\b[^?]*\?$"
)

_BULK_STRONG_RE: Final = re.compile(
    r"\bclick(?:ing)? (?:here|below|above|now|the (?:link|button)|on the (?:link|button))\b"
    r"|\b(?<![a-z] )(?<![a-z]' )(?:act|order|buy|shop|apply|sign up|join|register|subscribe|download|claim"
    r"|enroll|book|upgrade|start|call|contact us|donate|save|hurry|get it|try it)(?: it| yours| us)?"
    r" (?:now|today)\b"
    r"|\bact now\b|\bunsubscribe\b|\bopt[- ]out\b|\baddress book\b|\bsafe[- ]sender|\bwhite ?list\b"
    r"|\bto ensure (?:delivery|that you|future)\b|\bno longer (?:wish to )?receive\b"
    r"|\bview (?:this|it) (?:email|e-mail|message|online|in (?:a|your) (?:web )?browser)\b"
    r"|\blimited time\b|\bwhile supplies last\b|\bdon'?t miss (?:out|this)\b|\bfree (?:shipping|trial|gift)\b"
    r"|\b\d+ ?% off\b|\bclaim your\b|\blike us on\b|\bfollow us on\b|\bforward (?:this|it) to a friend\b"
    r"|\breply stop\b|\btext \w+ to \d+"
)
_BULK_WEAK_RE: Final = re.compile(
    r"\bvisit (?:us|our)\b|\blearn more\b|\bfind out (?:more|how)\b"
    r"|\bget started\b|\bdownload (?:the|our)\b|\bour (?:website|site|store|app|team|newsletter)\b"
    r"|\bsign up\b|\bregister\b|\bsubscribe\b|\bcustomers?\b|\bmembers?\b|\bshop\b|\bdeals?\b|\boffers?\b"
    r"|\bsave (?:up to|big)|\b(?:for|it's|its|is|totally|absolutely|get|try|claim|your) free\b"
    r"|\bfree (?:shipping|trial|gift|download|delivery|sample|bonus|app|e-?book|quote|consultation)\b"
)
_BULK_CHARS: Final = ("!", "$", "http", "www.")
_FIRST_PERSON_RE: Final = re.compile(r"\b(?:i|me|my|i'm|i'd|i'll|i've)\b")
_SECOND_PERSON_RE: Final = re.compile(r"\b(?:you|your|u)\b")
_PERSONAL_CUE_RE: Final = re.compile(
    r"\b(?:could|can|would|will|are|do|did|have) (?:you|u)\b|\blet me know\b|\bfeel free\b"
    r"|\bis there any chance\b"
)
_VOCATIVE_RE: Final = re.compile(r"(?:(?:[Hh]i|[Hh]ey|[Hh]ello|[Dd]ear)\s+)?[A-Z][a-z]+\s*(?:[,:]|--?)\s")


def is_personal(sentence: str) -> bool:
    """False for a generic bulk call to action ("Click here to…", "Act now", "Call today!").

    Strong bulk phrases always make a sentence generic; weaker marketing hints (a URL, "visit
    our…", "learn more", "free", an exclamation mark…) do unless the sentence also shows a
    personal exchange (I/me and you together, a vocative "Laura,", "could you", "let me know").
    """
    raw = sentence.strip()[:MAX_CHARS]
    low = raw.lower()
    if _BULK_STRONG_RE.search(low):
        return False
    if not any(c in low for c in _BULK_CHARS) and _BULK_WEAK_RE.search(low) is None:
        return True
    return bool(
        (_FIRST_PERSON_RE.search(low) and _SECOND_PERSON_RE.search(low))
        or _PERSONAL_CUE_RE.search(low)
        or _VOCATIVE_RE.match(raw)
    )


class AskSubtype(StrEnum):
    """What an ask asks for."""

    SHARE = "share"  # share / promote / amplify: forward, post, cover, spread the word
    INTRODUCE = "introduce"
    MEET = "meet"  # meeting, call, lunch, coffee
    REVIEW = "review"  # look over, comment on, approve, sign
    REPLY = "reply"  # answer / confirm / let me know
    INFORMATION = "information"  # send or tell me facts, documents, numbers
    FAVOUR = "favour"  # help, do something for me, support, vote, donate
    OTHER = "other"


_SUBTYPE_RULES: Final[tuple[tuple[AskSubtype, re.Pattern[str]], ...]] = (
    (
        AskSubtype.INTRODUCE,
        re.compile(
            r"\bintroduc|\bintro\b|\bput (?:me|us) in (?:touch|contact)\b|\bconnect (?:me|us) (?:with|to)\b"
            r"|\bin touch with\b|\brefer (?:me|us) to\b|\bwho (?:should|could|would) (?:i|we) (?:talk|speak)"
        ),
    ),
    (
        AskSubtype.SHARE,
        re.compile(
            r"\bshare\b(?! (?:your|any|some) (?:thoughts|views|feedback|comments|input|ideas))"
            r"(?![^.?!]*\bwith (?:me|us)\b)"
            r"|\bspread the word|\bretweet|\bre-?post\b|\btweet\b|\bpromot|\bamplify\b"
            r"|\bpass (?:this |it |the word )?(?:along|on)\b|\bforward (?:this|it) to\b|\bcirculate\b"
            r"|\b(?:write|blog|post) about\b|\bcover (?:this|it|our)\b|\bfeature (?:this|us|it|our)\b"
            r"|\bmention (?:this|us|it|our|the)\b"
            r"|\bin your (?:newsletter|column|blog|podcast|show|feed|magazine)\b"
            r"|\b(?:to|with) your (?:readers|followers|network|audience|list|subscribers)\b"
            r"|\bon (?:your|the) (?:blog|site|newsletter|twitter|linkedin|facebook)\b|\bsocial media\b"
        ),
    ),
    (
        AskSubtype.REVIEW,
        re.compile(
            r"\breview|\blook (?:over|through|at)\b|\btake a (?:quick )?look\b|\bcomments? on\b|\bfeedback\b"
            r"|\bproof-?read|\bsign[- ]off\b|\bapprov|\bsign (?:the|this|it|off)\b|\bedit(?:s|ed|ing)?\b"
            r"|\bcheck (?:the|this|my|it|over)\b|\byour (?:thoughts|comments|input|opinion|views)\b"
            r"|\bwhat (?:you|u) think\b|\bmark ?up\b|\bred-?line|\bgo over\b"
        ),
    ),
    (
        AskSubtype.INFORMATION,
        re.compile(
            r"\b(?:send|forward|email|e-mail|fax|mail) (?:me|us|over)\b|\bnumbers\b|\bdata\b|\bcopy of\b"
            r"|\bfigures\b|\bdocuments?\b|\bshare (?:the|your|those|these)?\b[^.?!]*\bwith (?:me|us)\b"
        ),
    ),
    (
        AskSubtype.FAVOUR,
        re.compile(
            r"\bfavou?r\b|\bdonat|\bsponsor|\bvolunteer|\bspeak at\b"
            r"|\bbe (?:a|our) (?:speaker|judge|panelist|host)\b|\bvote (?:for|in)\b|\bsign the petition\b"
            r"|\bcover for\b|\blend (?:me|us)\b|\bdo me a\b"
        ),
    ),
    (
        AskSubtype.MEET,
        re.compile(
            r"\bmeet|\blunch\b|\bcoffee\b|\bdinner\b|\bbreakfast\b|\bdrinks?\b|\bget together\b|\bcatch up\b"
            r"|\bconference call\b|\b(?:a|the|phone|quick) call\b|\bcall (?:me|us)\b|\ba (?:call|ring)\b"
            r"|\bschedul|\bset up (?:a|some) time\b|\bavailab|\bstop by\b|\bcome (?:by|over)\b|\bchat\b"
            r"|\btalk\b|\bdiscuss\b|\bvisit (?:me|us)\b|\bjoin (?:me|us)\b"
        ),
    ),
    (
        AskSubtype.FAVOUR,
        re.compile(
            r"\bfavou?r\b|\bhelp\b|\bcover for\b|\bpick (?:me |it |them )?up\b|\blend\b|\bdonat|\bsponsor"
            r"|\bsupport (?:us|me|our)\b|\bvote\b|\bsign (?:up|the petition)\b|\brecommend (?:me|us)\b"
            r"|\breference\b|\bvolunteer|\bcontribut|\bhost\b|\bspeak at\b"
            r"|\bbe (?:a|our) (?:speaker|judge|panelist)\b"
            r"|\bgood word\b|\bdo me a\b|\bappreciate it if\b"
        ),
    ),
    (
        AskSubtype.INFORMATION,
        re.compile(
            r"\binfo|\bdetails?\b|\breport\b|\blist\b|\bfile\b|\bstatus\b|\bupdate\b|\bdo you (?:have|know)\b"
            r"|\bany (?:news|word|idea)\b|\bwhat\b|\bwhen\b|\bwhere\b|\bwho\b"
            r"|\bhow (?:many|much|long|do|did|is|are)\b|\bwhich\b|\btell (?:me|us)\b|\bexplain\b|\bclarify\b"
        ),
    ),
    (
        AskSubtype.REPLY,
        re.compile(
            r"\blet (?:me|us) know\b|\breply\b|\brespond\b|\bget back to (?:me|us)\b|\bconfirm\b|\brsvp\b"
            r"|\banswer\b|\bwrite back\b|\bhear (?:back )?from you\b|\bkeep (?:me|us) posted\b"
        ),
    ),
)


def ask_subtype(sentence: str) -> AskSubtype:
    """The kind of an ask, by keyword rules in priority order (introduce, share, review, send-me
    information, meet, favour, other information, reply; any other question is REPLY), OTHER when
    none fits. Meaningful only for sentences that are asks."""
    low = sentence.strip()[:MAX_CHARS].lower()
    for subtype, rx in _SUBTYPE_RULES:
        if rx.search(low):
            return subtype
    if low.rstrip(" \"')").endswith("?"):
        return AskSubtype.REPLY
    return AskSubtype.OTHER


# ---------------------------------------------------------------------------------------------
# Model and detector
# ---------------------------------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class AskModel:
    """A linear model over :func:`featurize` features plus its calibrated probability threshold."""

    weights: dict[str, float]
    bias: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "version": MODEL_VERSION,
            "bias": self.bias,
            "threshold": self.threshold,
            "meta": self.meta,
            "weights": self.weights,
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AskModel:
        doc = json.loads(text)
        if doc.get("version") != MODEL_VERSION:
            raise ValueError(f"ask model version {doc.get('version')!r}, expected {MODEL_VERSION!r}")
        weights = {str(k): float(v) for k, v in doc["weights"].items()}
        return cls(
            weights=weights,
            bias=float(doc["bias"]),
            threshold=float(doc["threshold"]),
            meta=dict(doc["meta"]),
        )

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path


@dataclass(frozen=True)
class AskPrediction:
    """The verdict on one sentence (``index`` is its position in the input list)."""

    index: int
    sentence: str
    score: float
    is_ask: bool
    subtype: AskSubtype | None  # None when not an ask
    personal: bool | None  # False: generic bulk call to action (a "mass_ask"); None when not an ask


class AskDetector:
    """Scores sentences: probability that each one is an ask.

    >>> detector = AskDetector.load()
    >>> detector.is_ask(["Could you send me the Q3 numbers by Friday?"])
    [True]
    """

    def __init__(self, model: AskModel, threshold: float | None = None) -> None:
        self.model = model
        self.threshold = model.threshold if threshold is None else threshold
        self._weights = model.weights
        self._bias = model.bias

    @classmethod
    def load(cls, path: Path | str | None = None, threshold: float | None = None) -> AskDetector:
        """Load the model shipped with the package (no network), or the model file/directory ``path``."""
        if path is None:
            ref = resources.files(MODEL_PACKAGE).joinpath(*MODEL_SUBDIR, MODEL_FILE)
            text = ref.read_text(encoding="utf-8")
        else:
            p = Path(path)
            text = (p / MODEL_FILE if p.is_dir() else p).read_text(encoding="utf-8")
        return cls(AskModel.from_json(text), threshold)

    def score(self, sentences: Sequence[str]) -> list[float]:
        """Probability-like score in [0, 1] for each sentence (rule floor included)."""
        out: list[float] = []
        get = self._weights.get
        bias = self._bias
        zero = repeat(0.0)
        for s in sentences:
            raw = s.strip()[:MAX_CHARS]
            p = _sigmoid(bias + sum(map(get, _features(raw), zero)))
            if p < RULE_FLOOR:
                low = raw.lower()
                if "you" in low and (_RULE_ASK_RE.search(low) or _RULE_ASK_QUESTION_RE.match(low)):
                    p = RULE_FLOOR
            out.append(p)
        return out

    def is_ask(self, sentences: Sequence[str]) -> list[bool]:
        """Whether each sentence is an ask (score >= threshold); personal or not."""
        t = self.threshold
        return [p >= t for p in self.score(sentences)]

    def detect(self, sentences: Sequence[str]) -> list[AskPrediction]:
        """Full verdict per sentence: score, ask or not, and for asks their subtype and personal flag."""
        preds: list[AskPrediction] = []
        t = self.threshold
        for i, (s, p) in enumerate(zip(sentences, self.score(sentences), strict=True)):
            if p >= t:
                preds.append(AskPrediction(i, s, p, True, ask_subtype(s), is_personal(s)))
            else:
                preds.append(AskPrediction(i, s, p, False, None, None))
        return preds

    def asks(self, sentences: Sequence[str]) -> list[AskPrediction]:
        """Only the sentences that are asks."""
        return [p for p in self.detect(sentences) if p.is_ask]

    def explain(self, sentence: str, top: int = 8) -> list[tuple[str, float]]:
        """The features that weigh most on one sentence's score (for debugging)."""
        feats = [(f, self._weights.get(f, 0.0)) for f in featurize(sentence)]
        feats.sort(key=lambda fw: -abs(fw[1]))
        return feats[:top]


@lru_cache(maxsize=1)
def get_detector() -> AskDetector:
    """The shipped detector, loaded once per process."""
    return AskDetector.load()
