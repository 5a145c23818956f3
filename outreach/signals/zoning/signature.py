"""The signature block (after a ``-- `` line, or a trailing name / title / phone / address block), the
leading greeting and the trailing sign-off of the new text."""

from __future__ import annotations

import re

from outreach.signals.zoning.zones import DROP, EMAIL_RE, NEW, SEPARATOR_RE, SIG, word_set

__all__ = ["greeting_span", "label_signature", "signoff_span"]

# Signature features

_MOBILE_RE = re.compile(
    r"(?:sent (?:from|via|using|with) (?:my|a|the) \S|sent from (?:yahoo|mail for|outlook|gmail|aol"
    r"|samsung|iphone"
    r"|ipad|android|blackberry|windows)|get outlook for \S|envoy[ée] de mon|von meinem \S+ gesendet"
    r"|enviado desde mi|inviato da)",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(
    r"(?<![\w/])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?)?\d{2,5}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w/])"
    r"|\b(?:x|ext\.?|extension)[ \t]?\d[\d-]{2,6}\b",
    re.IGNORECASE,
)
_PHONE_LABEL_RE = re.compile(
    r"(?:tel|phone|ph|fax|cell|mobile|mob|direct|dir|office|work|home|main|t|f|m|p|o|c|d|w|e)[ \t]*[.:\])]"
    r"|\((?:o|c|m|f|w|h)\)",
    re.IGNORECASE,
)
_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|edu|gov|io|biz|info|co\.uk|de|fr)\b", re.IGNORECASE
)
_URL_ONLY_RE = re.compile(r"<?(?:https?://|www\.)\S+>?")
_TITLE_RE = re.compile(
    r"\b(?:director|manager|president|vp|svp|evp|avp|vice president|analyst|coordinator|officer|engineer"
    r"|counsel"
    r"|specialist|associate|partner|consultant|assistant|executive|head of|ceo|cfo|cto|coo|cmo|chief|editor"
    r"|reporter|correspondent|journalist|writer|producer|professor|ph\.?d|founder|co-founder|chair(?:man|woman)?"
    r"|secretary|attorney|lawyer|administrator|representative|strategist|principal|trader|economist"
    r"|advis[eo]r|supervisor|intern|owner|communications|public relations|marketing|media relations"
    r"|spokes(?:person|man|woman)|account)\b",
    re.IGNORECASE,
)
_COMPANY_RE = re.compile(
    r"\b(?:Inc|Corp|LLC|Ltd|L\.P|LP|LLP|GmbH|AG|PLC|plc|S\.A|SA|Co|NV|BV|Pty)\b\.?"
    r"|\b(?i:corporation|company|group|partners|associates|university|institute|agency|foundation)\b"
)
_ADDRESS_RE = re.compile(
    r"\b\d{1,5}[ \t]+(?:[A-Za-z0-9.'-]+[ \t]+){1,4}(?:st|street|ave|avenue|rd|road|blvd|boulevard|dr"
    r"|drive|ln|lane"
    r"|way|plaza|square|sq|court|ct|pkwy|parkway|place|pl|highway|hwy)\b"
    r"|\b(?:suite|ste\.?|floor|p\.?[ \t]?o\.?[ \t]+box)[ \t]*#?\d+"
    r"|,[ \t]*[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?\b",
    re.IGNORECASE,
)
_ATTACHMENT_RE = re.compile(
    r"(?:-[ \t]+[^\n]{1,100}\.[A-Za-z0-9]{2,5}|<<[^\n]{1,120}>>|\[?(?:attachment|image|file)[^\n]{0,80}\]?"
    r"|\(see attached file:[^\n]{0,200}|[^\n]{0,100}\.[A-Za-z0-9]{2,5}\))[ \t]*$",
    re.IGNORECASE,
)
_KEY_VALUE_RE = re.compile(r"([A-Za-z][\w /#.()-]{0,30}?)[ \t]*:[ \t]+\S")
_SIG_LABELS = word_set(
    "tel tel. telephone phone ph ph. fax facsimile cell cellular mobile mob mob. direct dir office "
    "work home main email e-mail mail web website www url skype twitter linkedin pager p t f m e w o "
    "c d h address title blackberry voice switchboard"
)
# a signature block below a sign-off may be long (name, title, company, full address, phones)
_SIG_MAX_AFTER_SIGNOFF = 15
_BULLET_RE = re.compile(r"(?:[*•·]|\d{1,2}[.)])[ \t]")
_PS_RE = re.compile(r"p\.?[ \t]?p?\.?[ \t]?s\b\.?", re.IGNORECASE)
_FUNCTION_WORDS = word_set(
    "i i'm i'll i've i'd me my you you're your we we're our us is are was were will would can could "
    "should please let know if it it's this that have has had do does did don't not be been am there "
    "what when how why which just so but also"
)
_NAME_PARTICLES = word_set("de da del della der den van von la le di du dos das bin al y")
_NAME_TOKEN_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ.'’-]*")

# --------------------------------------------------------------------------------------------
# Greeting and sign-off

_SIGNOFF_RE = re.compile(
    r"(?:(?:many|much|with|warm(?:est)?|kind(?:est)?|best|all(?:[ \t]+the)?|very[ \t]+best|my[ \t]+best"
    r"|sincere"
    r"|heartfelt|big|huge|special|hearty|cordial|warm[ \t]+and[ \t]+kind)[ \t]+)*"
    r"(?:thanks|thank[ \t]+you|thx|tks|thnx|thanx|cheers|regards|rgds|wishes|best|sincerely|cordially"
    r"|respectfully|yours|love|warmly|take[ \t]+care|talk[ \t]+soon|speak[ \t]+soon|ciao|hugs|xoxo"
    r"|mit[ \t]+freundlichen[ \t]+gr[üu](?:ß|ss)en|(?:viele|liebe|beste|herzliche)[ \t]+gr[üu](?:ß|ss)e"
    r"|gr[üu](?:ß|ss)e|mfg|lg|cordialement|bien[ \t]+cordialement|bien[ \t]+[àa][ \t]+vous|amiti[ée]s"
    r"|saludos|un[ \t]+saludo|atentamente|cordiali[ \t]+saluti|saluti|grazie|merci"
    r"|met[ \t]+vriendelijke[ \t]+groet(?:en)?|groeten|abra[çc]os|obrigad[oa])"
    r"(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much|a[ \t]+lot|a[ \t]+million|a[ \t]+bunch"
    r"|in[ \t]+advance|much"
    r"|all|everyone|everybody|guys|folks|team|truly|sincerely|faithfully|yours|regards|and[ \t]+regards"
    r"|&[ \t]+regards|and[ \t]+best[ \t]+regards|for[ \t]+now|again[ \t]+and[ \t]+regards))*"
    r"(?![\w'])",
    re.IGNORECASE,
)
_SIGNOFF_STOP = word_set(
    "for to the you your me my so much a an on in at of it this that and with from very as if we our is"
)
_GREETING_RE = re.compile(
    r"(?i:(?P<g>hi|hello|hey|heya|hiya|dear|good[ \t]+(?:morning|afternoon|evening|day)|howdy|bonjour|salut"
    r"|hallo|hola|ciao|guten[ \t]+(?:morgen|tag|abend)|liebe[rs]?|sehr[ \t]+geehrte[rs]?|buongiorno"
    r"|buenos[ \t]+d[ií]as"
    r"|estimad[oa]s?|caro|cara|beste|hoi|ol[áa]|greetings|morning|afternoon|evening|yo)(?![\w']))"
)
_GREETING_WEAK = frozenset(["greetings", "morning", "afternoon", "evening", "yo", "beste", "caro", "cara"])
_GREETING_NAME_RE = re.compile(
    r"(?:[ \t]*,)?(?:[ \t]+(?:[A-ZÀ-ÖØ-Þ][\w.'’-]*|(?i:all|team|everyone|everybody|there|folks|guys|you"
    r"|y'all|both"
    r"|sir|madam|mr\.?|ms\.?|mrs\.?|dr\.?|prof\.?|and|&|or|colleagues|friends)(?![\w']))){0,5}"
    r"[ \t]*[,:!;.\u2014\u2013-]*"
)
_NAME_GREETING_RE = re.compile(
    r"[A-Za-zÀ-ÖØ-öø-ÿ][\w.'’-]*(?:(?:[ \t]+(?:and|&)[ \t]+|,[ \t]*"
    r"|[ \t]+)[A-ZÀ-ÖØ-Þ][\w.'’-]*){0,4}[ \t]*[,:][ \t]*$"
)
_GREETING_WORDS_RE = re.compile(r"(?:[ \t]+[\w.'’-]+){1,4}[ \t]*[,:!]")
_GREETING_TRAILING_CONNECTOR_RE = re.compile(r"(?:[ \t]+(?:and|&|or))+[ \t]*$", re.IGNORECASE)


# ============================================================================================
# Public API


def signoff_span(new_text: str) -> tuple[int, int] | None:
    """Char span of the trailing sign-off of ``new_text``, or ``None``.

    A sign-off is a closing line such as ``Thanks,``, ``Best,``, ``Kind regards``,
    ``Thanks - Dan`` among the last lines, optionally followed by one or two name lines
    (``Thanks!\\nJane``); the span covers the sign-off line and those name lines.  ``Thanks for
    the help.`` is gratitude, not a sign-off, and a text that is only a sign-off (nothing but a
    greeting before it) has none.
    """
    try:
        return _signoff_span(new_text)
    except Exception:  # pragma: no cover - must never raise
        return None


def greeting_span(new_text: str) -> tuple[int, int] | None:
    """Char span of the leading greeting of ``new_text`` (``Hi Jane,``, ``Dear all,``,
    ``Good morning Jane -``, or a first line of only names such as ``Sally,``), or ``None``."""
    try:
        return _greeting_span(new_text)
    except Exception:  # pragma: no cover - must never raise
        return None


# ============================================================================================
# Signature


def label_signature(contents: list[str], labels: list[int], n: int) -> None:
    """Label the trailing signature among the new-text lines (and drop its ``-- `` separator)."""
    new_idx = [i for i in range(n) if labels[i] == NEW]
    if not new_idx:
        return
    nonblank = [i for i in new_idx if contents[i].strip()]
    # trailing attachment notes (" - report.xls", "<< File: a.doc >>") are not part of a signature
    while nonblank and _ATTACHMENT_RE.match(contents[nonblank[-1]].strip()):
        nonblank.pop()
    if not nonblank:
        return
    last_line = nonblank[-1]
    # 1. the "-- " separator (the first one followed by a plausible signature length)
    for pos, i in enumerate(nonblank):
        if contents[i].strip() == "--":
            after = len(nonblank) - pos - 1
            if after <= 20:
                labels[i] = DROP
                for k in new_idx:
                    if i < k <= last_line:
                        labels[k] = SIG
                return
    # 2. a trailing block after a sign-off, or a trailing block with signature features
    sig = _trailing_signature(contents, nonblank)
    if sig is None:
        return
    first = nonblank[sig]
    # a separator line right above the signature belongs to it
    pos = sig - 1
    while pos >= 0 and SEPARATOR_RE.match(contents[nonblank[pos]].strip()):
        first = nonblank[pos]
        pos -= 1
    for k in new_idx:
        if first <= k <= last_line:
            labels[k] = SIG


def _trailing_signature(contents: list[str], nb: list[int]) -> int | None:
    """Index into ``nb`` (non-blank new-text lines) where the trailing signature starts."""
    m = len(nb)
    j = m
    while j > 0 and m - j < _SIG_MAX_AFTER_SIGNOFF + 1:
        s = contents[nb[j - 1]].strip()
        if _is_signoff_line(s):
            break
        if not _sig_like(s):
            break
        j -= 1
    if j == m:
        return None
    block = list(range(j, m))
    if j > 0 and _is_signoff_line(contents[nb[j - 1]].strip()):
        return _signature_after_signoff(contents, nb, block)
    # no sign-off: the block must carry signature features and stand apart from the body
    if m - j > _SIG_MAX_AFTER_SIGNOFF + 1:
        return None
    chosen = _feature_paragraphs(contents, nb, block)
    if not chosen or len(chosen) > 8:
        return None
    return _apart_from_body(contents, nb, chosen)


def _signature_after_signoff(contents: list[str], nb: list[int], block: list[int]) -> int | None:
    """Where the signature starts in the signature-like ``block`` (indices into ``nb``) below a sign-off
    line: a name right below the sign-off is part of it, not of the signature."""
    if len(block) > _SIG_MAX_AFTER_SIGNOFF:
        return None
    first = block[0]
    s0 = contents[nb[first]].strip()
    directly = nb[first] == nb[first - 1] + 1
    if _name_like(s0):
        if len(block) == 1:
            return None
        if directly or _blank_between(contents, nb[first], nb[first + 1]):
            block = block[1:]
    block = [b for b in block if not SEPARATOR_RE.match(contents[nb[b]].strip())]
    if not block:
        return None
    texts = [contents[nb[b]].strip() for b in block]
    # after a sign-off, a trailing block is a signature if it carries a feature or is only names
    if not any(_sig_feature(x) for x in texts) and not all(_name_like(x) for x in texts):
        return None
    return block[0]


def _feature_paragraphs(contents: list[str], nb: list[int], block: list[int]) -> list[int]:
    """The trailing paragraphs of ``block`` that carry a signature feature (a bare name paragraph stays new
    text), as indices into ``nb``."""
    paras: list[list[int]] = []
    split = True
    for b in block:
        if SEPARATOR_RE.match(contents[nb[b]].strip()):
            split = True  # a "~ ~ ~" / "-----" line separates blocks and counts for nothing
            continue
        if paras and not split and not _blank_between(contents, nb[paras[-1][-1]], nb[b]):
            paras[-1].append(b)
        else:
            paras.append([b])
        split = False
    chosen: list[int] = []
    for para in reversed(paras):
        texts = [contents[nb[b]].strip() for b in para]
        if any(_sig_strong(t) for t in texts) or (
            len(texts) >= 2 and any(_name_like(t) for t in texts) and any(_sig_weak(t) for t in texts)
        ):
            chosen = para + chosen
        else:
            break
    return chosen


def _apart_from_body(contents: list[str], nb: list[int], chosen: list[int]) -> int | None:
    """Where the signature starts, the trailing lines ``chosen`` (indices into ``nb``, at most 8) having
    features, without a sign-off above them: only if they stand apart from the body."""
    start = chosen[0]
    mobile_only = all(
        _MOBILE_RE.match(contents[nb[b]].strip()) or SEPARATOR_RE.match(contents[nb[b]].strip())
        for b in chosen
    )
    if start == 0:
        return None if not mobile_only else start
    if mobile_only:
        return start
    if len(chosen) > 6:
        return None
    if len(chosen) == 1 and not _single_line_signature(contents[nb[start]].strip()):
        return None
    prev = contents[nb[start - 1]].strip()
    if prev.endswith(":"):  # "please contact one of the following:" introduces content
        return None
    if (
        _blank_between(contents, nb[start - 1], nb[start])
        or prev.endswith((".", "!", "?"))
        or SEPARATOR_RE.match(prev)
    ):
        return start
    return None


def _single_line_signature(s: str) -> bool:
    """ "Jane Doe (x5-4895)", "Jane Doe | 555-123-4567 | jane@example.com": a name beside a phone or
    address; a lone URL or "call 555-1234 to order" is not a signature."""
    rest = _PHONE_RE.sub(" ", EMAIL_RE.sub(" ", s))
    if rest == s:
        return False
    rest = " ".join(rest.replace("|", " ").replace("(", " ").replace(")", " ").split()).strip(" ,;:-/")
    for label in ("tel", "phone", "ph", "cell", "mobile", "fax", "email", "e-mail", "office", "direct"):
        if rest.lower().endswith(" " + label):
            rest = rest[: -len(label)].rstrip(" ,;:-/")
    return not rest or _name_like(rest)


def _blank_between(contents: list[str], a: int, b: int) -> bool:
    return any(not contents[k].strip() for k in range(a + 1, b))


def _sig_strong(s: str) -> bool:
    """Phone, e-mail, URL, postal address or "Sent from my ..." -- enough on its own."""
    return bool(
        _MOBILE_RE.match(s)
        or EMAIL_RE.search(s)
        or (_URL_RE.search(s) and not _URL_ONLY_RE.fullmatch(s))
        or _PHONE_LABEL_RE.match(s)
        or _PHONE_RE.search(s)
        or _ADDRESS_RE.search(s)
    )


def _sig_weak(s: str) -> bool:
    """A job title or a company name: a signature feature next to a name line."""
    return bool(_TITLE_RE.search(s) or _COMPANY_RE.search(s))


def _sig_feature(s: str) -> bool:
    return _sig_strong(s) or _sig_weak(s)


def _sig_like(s: str) -> bool:
    """Could this line be part of a signature block (short, not a sentence)?"""
    if len(s) > 80:
        return False
    if SEPARATOR_RE.match(s) or _MOBILE_RE.match(s):
        return True
    if _name_like(s):
        return True
    if _PS_RE.match(s) or _BULLET_RE.match(s) or s.endswith(("?", ":")):
        return False
    kv = _KEY_VALUE_RE.match(s)
    if kv is not None and kv.group(1).strip().lower() not in _SIG_LABELS:
        return False
    words = s.split()
    if len(words) >= 10:
        return False
    fw = 0
    for w in words:
        lw = w.lower().strip(".,;:!()\"'")
        if lw in _FUNCTION_WORDS:
            fw += 1
            if lw == "please":
                return False
    if fw >= 2:
        return False
    return not (s.endswith((".", "!")) and len(words) >= 6)


def _name_like(s: str) -> bool:
    """ "Jane", "Jane Doe", "-jane", "--J.D.", "Mary-Ann O'Neil"."""
    s = s.lstrip("-–—~ \t").rstrip(" \t.")
    if not s or len(s) > 40:
        return False
    tokens = s.split()
    if len(tokens) > 5:
        return False
    names = 0
    for t in tokens:
        if t in ("&", "and") and names > 0:
            continue
        if not _NAME_TOKEN_RE.fullmatch(t):
            return False
        names += 1
    if names == 0 or names > 4 or tokens[-1] in ("&", "and"):
        return False
    if len(tokens) == 1:
        return True
    return all(t[0].isupper() or t.lower() in _NAME_PARTICLES or t in ("&", "and") for t in tokens)


def _is_signoff_line(s: str) -> bool:
    s = s.lstrip("-–—~ \t")
    if not s or len(s) > 60:
        return False
    m = _SIGNOFF_RE.match(s)
    if m is None:
        return False
    rest = s[m.end() :].strip(" \t,.!;:-–—~")
    if not rest:
        return True
    first = rest.split()[0].lower()
    return first not in _SIGNOFF_STOP and _name_like(rest)


# ============================================================================================
# Greeting / sign-off spans


def _signoff_span(new_text: str) -> tuple[int, int] | None:
    if not isinstance(new_text, str) or not new_text:
        return None
    end = len(new_text.rstrip())
    # the last non-blank lines (at most 7, within 80 lines), as (start, end) spans, last first
    spans: list[tuple[int, int]] = []
    pos = end
    seen = 0
    while pos > 0 and len(spans) < 7 and seen < 80:
        seen += 1
        nl = new_text.rfind("\n", 0, pos)
        a = nl + 1
        if pos - a > 400:  # a long last line is prose, not a sign-off
            if not spans:
                return None
            break
        line = new_text[a:pos]
        if line.strip():
            lead = len(line) - len(line.lstrip())
            spans.append((a + lead, a + len(line.rstrip())))
        if nl < 0:
            break
        pos = nl
    # attachment notes after the sign-off (" - report.doc") do not hide it
    skipped = 0
    while spans and skipped < 3 and _ATTACHMENT_RE.match(new_text[spans[0][0] : spans[0][1]]):
        spans.pop(0)
        skipped += 1
    spans = spans[:4]
    names: list[tuple[int, int]] = []
    for a, b in spans:
        line = new_text[a:b]
        if _is_signoff_line(line):
            if len(names) > 2:
                return None
            if not _has_content_before(new_text, a):
                return None
            stop = names[0][1] if names else b
            return a, stop
        if _name_like(line) and len(names) < 2:
            names.insert(0, (a, b))
            continue
        return None
    return None


def _has_content_before(text: str, a: int) -> bool:
    """Is there text before ``a`` other than a greeting?"""
    before = text[:a]
    if not before.strip():
        return False
    g = _greeting_span(before)
    if g is None:
        return True
    return bool(before[g[1] :].strip())


def _greeting_span(new_text: str) -> tuple[int, int] | None:
    if not isinstance(new_text, str) or not new_text:
        return None
    n = len(new_text)
    a = 0
    while a < n and new_text[a] in " \t\r\n\ufeff\u00a0":
        a += 1
    if a >= n:
        return None
    nl = new_text.find("\n", a, a + 400)
    line_end = nl if nl >= 0 else min(n, a + 400)
    line = new_text[a:line_end].rstrip()
    if not line:
        return None
    gm = _GREETING_RE.match(line)
    if gm is not None:
        nm = _GREETING_NAME_RE.match(line, gm.end())
        stop = nm.end() if nm is not None else gm.end()
        if not line[:stop].rstrip().endswith((",", ":", "!", ";", ".", "-", "\u2014", "\u2013")):
            # "Dear subscriber,", "Hi team members," -- lower-case words closed by punctuation
            wm = _GREETING_WORDS_RE.match(line, gm.end())
            if wm is not None:
                stop = wm.end()
        span_text = _GREETING_TRAILING_CONNECTOR_RE.sub("", line[:stop].rstrip())
        stop = len(span_text)
        rest = line[stop:].strip()
        if gm.group("g").lower() in _GREETING_WEAK and rest:
            return None
        # "Hello world is..." -> a bare greeting word followed by lower-case text is no greeting
        if (
            rest
            and not span_text.endswith((",", ":", "!", ";", ".", "-", "\u2014", "\u2013"))
            and stop == gm.end()
            and not rest[:1].isupper()
        ):
            return None
        return a, a + stop
    if len(line) <= 60 and _NAME_GREETING_RE.fullmatch(line):
        words = line.rstrip(",: \t").replace(",", " ").split()
        if 1 <= len(words) <= 5 and not _SIGNOFF_RE.fullmatch(line.rstrip(",: \t")):
            return a, a + len(line.rstrip())
    return None
