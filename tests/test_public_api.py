"""The public API (outreach.api): its names are pinned, each is what its module defines, and importing it
loads neither spaCy nor the models; the package itself stays light for the command line."""

from __future__ import annotations

import inspect
import subprocess
import sys

from outreach import api

PUBLIC = [
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


def test_the_public_names_are_pinned() -> None:
    assert api.__all__ == PUBLIC  # a change here is a change of the public API: say so in the README
    for name in PUBLIC:
        value = getattr(api, name)
        if name != "__version__":
            assert inspect.getmodule(value) is not api, name  # re-exported, not defined twice


def test_importing_loads_no_model_and_the_package_stays_light() -> None:
    code = (
        "import sys\n"
        "import outreach\n"
        "assert 'sqlalchemy' not in sys.modules, 'import outreach loaded the store'\n"
        "import outreach.api\n"
        "assert not {'spacy', 'onnxruntime', 'tokenizers'} & set(sys.modules), 'a model loaded at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_version_is_the_package_metadata() -> None:
    from importlib.metadata import version

    import outreach

    assert outreach.__version__ == api.__version__ == version("outreach")
