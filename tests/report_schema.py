"""The report schema every reproduction driver writes (report.json), checked in one place."""


def check_report_schema(report, paper, claim_ids):
    """`{"paper", "profile", "dataset", "seeds", "claims": [{"id", "criterion", "measured", "holds"}]}`."""
    assert report["paper"] == paper
    assert isinstance(report["profile"], str) and isinstance(report["dataset"], str)
    assert isinstance(report["seeds"], list) and all(isinstance(s, int) for s in report["seeds"])
    assert {c["id"] for c in report["claims"]} == claim_ids
    for claim in report["claims"]:
        assert set(claim) == {"id", "criterion", "measured", "holds"}
        assert isinstance(claim["criterion"], str) and isinstance(claim["measured"], dict)
        assert isinstance(claim["holds"], bool)
