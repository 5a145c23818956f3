"""Split a plain-text mail body into zones: the author's new text, quoted earlier mail,
signature and legal/unsubscribe boilerplate.

Later NLP must only look at what the sender wrote themselves, so :func:`split_zones` separates

* ``new_text`` -- the author's own text, greeting and sign-off included
  (:func:`greeting_span` / :func:`signoff_span` tell a caller where they are);
* ``quoted`` -- every quoted or forwarded earlier message: ``>`` lines with their
  ``On ... wrote:`` attribution, Outlook ``-----Original Message-----`` blocks and bare
  ``From:/Sent:/To:/Subject:`` header blocks, Lotus Notes ``Forwarded by`` lines and Notes reply
  headers (``Jane Doe <jane@example.com> on 04/02/2001 05:12 PM`` + ``To:/cc:/Subject:``),
  ``Begin forwarded message:``, ``---------- Forwarded message ---------``;
* ``signature`` -- after a ``-- `` line, or a trailing short name/title/phone/address block
  (``Sent from my iPhone`` included);
* ``boilerplate`` -- confidentiality / legal notices and unsubscribe / mailing-list footers;
* ``quoted_headers`` -- the parsed header of every quoted or forwarded message, in text order.

Zones keep the original lines (``quoted`` keeps its ``>`` prefixes); line ends come back as
``\n``.  Once a hard marker (an Original Message line, a forward, a header block, an attribution
not followed by ``>`` lines) is met outside ``>`` quotes, everything after it is quoted; ``>``
lines interleaved with the author's answers (inline replies) are quoted line by line.

It is built for a mail sync that zones thousands of bodies a second: one forward pass over the
lines with precompiled regexes (bounded or possessive quantifiers, nothing that backtracks
catastrophically) and a few bounded look-arounds, then one pass each for boilerplate and
signature, on at most ``max_chars`` characters.  The boilerplate pass first looks, in the raw lines,
for what any notice needs (a trigger word, a literal of a pattern); what each line holds is cached by
the line's text (mail repeats its lines), so most runs of lines cost a few look-ups.  It never raises.

Heuristic limits: a trailing signature without ``-- `` is found only after a sign-off line or when
it carries a phone / e-mail / URL / address / "Sent from" line (or a name plus a title or company);
a quoted message pasted without any marker, header or ``>`` stays new text; a bare
``From:/Sent:/Subject:`` block typed by the author is taken for a quote; boilerplate is found by
English, French and German legal / unsubscribe phrases only.

The package, by job: :mod:`~outreach.signals.zoning.zones` (the results and line labels),
:mod:`~outreach.signals.zoning.quotes` (quote markers, headers, forwards),
:mod:`~outreach.signals.zoning.boilerplate` (legal / unsubscribe notices),
:mod:`~outreach.signals.zoning.signature` (signature, greeting and sign-off) and
:mod:`~outreach.signals.zoning.split` (the forward pass that puts them together).
"""

from __future__ import annotations

from outreach.signals.zoning.signature import greeting_span, signoff_span
from outreach.signals.zoning.split import new_text, split_zones
from outreach.signals.zoning.zones import QuotedHeader, Zones

__all__ = ["QuotedHeader", "Zones", "greeting_span", "new_text", "signoff_span", "split_zones"]
