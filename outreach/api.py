"""The public API of outreach: what a program needs, in one place (the command line is a thin layer over
it; sessions are passed in, never global)::

    from outreach import api as outreach

    sessions = outreach.session_factory(outreach.open_store("sqlite:///outreach.db"))
    outreach.import_path(sessions, "export.mbox", "alex")             # or sync_mailbox(sessions, config, password)
    with sessions() as session:
        report = outreach.evaluate(session, outreach.load_campaign("templates/warm-pitch"))
    outreach.analyse_texts(["Could you share this with your readers?"])  # signals of any text, no store

Every error outreach raises on bad input or a failing server is an :class:`OutreachError`.  Importing this
module loads neither spaCy nor the models (they load on first use).  It is a module of its own, not the
package's ``__init__``, so that the command line (``outreach --help`` and friends) does not pay for
importing all of it.
"""

from outreach.campaign import Campaign, CampaignReport, check_address, evaluate, load_campaign
from outreach.config import MailboxConfig, Settings, load_settings
from outreach.errors import OutreachError
from outreach.ledger import Ledger, LedgerPolicy, load_ledgers, refresh_ledgers
from outreach.mail.runs import import_path, sync_mailbox
from outreach.send import SendOptions, send_campaign
from outreach.signals import analyse_texts
from outreach.signals.storage import rebuild, refine
from outreach.store import open_store, session_factory
from outreach.version import __version__

__all__ = [
    "Campaign",
    "CampaignReport",
    "Ledger",
    "LedgerPolicy",
    "MailboxConfig",
    "OutreachError",
    "SendOptions",
    "Settings",
    "__version__",
    "analyse_texts",
    "check_address",
    "evaluate",
    "import_path",
    "load_campaign",
    "load_ledgers",
    "load_settings",
    "open_store",
    "rebuild",
    "refine",
    "refresh_ledgers",
    "send_campaign",
    "session_factory",
    "sync_mailbox",
]
