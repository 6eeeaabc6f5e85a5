"""The report schema every reproduction driver writes (report.json), checked in one place:
the drivers' own `reproductions.report.check_report`."""

from reproductions.report import check_report


def check_report_schema(report, paper, claim_ids):
    """`{"paper", "profile", "dataset", "seeds", "claims": [{"id", "criterion", "measured", "holds"}]}`."""
    check_report(report, paper, claim_ids)
