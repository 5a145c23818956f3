"""The recipients a campaign may go to, as a CSV for another sender (``preview --ready-csv``).

A team that sends with Mailmeteor, YAMM, GMass or mailmerge gates the campaign with outreach first and
hands that tool only the READY recipients (and the REVIEW ones, with ``accept_review``): the rows as they
were in the recipients CSV, with its original columns and cells. The cells are written as they are (a
phone number ``+44 …`` or a handle ``@maya`` must reach the mail merge unchanged): this file is data for a
sending tool, like the file it came from.
"""

from __future__ import annotations

import csv
import io

from outreach.campaign.model import CampaignReport


def ready_rows_csv(report: CampaignReport, accept_review: bool = False) -> tuple[str, int]:
    """The CSV text (the campaign's header, then the rows of the recipients that may go, in file order)
    and how many rows it holds."""
    wanted = {"READY", "REVIEW"} if accept_review else {"READY"}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    campaign = report.campaign
    writer.writerow(campaign.columns)
    count = 0
    rows = {r.address: r for r in campaign.recipients}
    for recipient in report.recipients:
        allowed = recipient.verdict == "READY" or (recipient.verdict in wanted and recipient.review_allowed)
        if allowed:
            source = rows.get(recipient.address)
            if source is not None:
                writer.writerow(source.cells or [recipient.row.get(c.strip(), "") for c in campaign.columns])
                count += 1
    return out.getvalue(), count


__all__ = ["ready_rows_csv"]
