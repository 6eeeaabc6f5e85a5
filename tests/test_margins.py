"""Claims with margins: the margin records, their fragility rules, the report schema that
requires them, and the committed reports (each one what the code redraws from it, every
claim with a margin, the README quoting its verdicts)."""

import json
import pathlib
import re
import shutil

import numpy as np
import pytest

from reproductions import margins, redraw_claims
from reproductions import report as reporting

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMITTED = sorted(path.parent for path in (ROOT / "results").glob("*/*/report.json"))


def test_every_seed_margin_interval_and_the_std_rule():
    held = margins.every_seed([0.1, 0.2, 0.3], 0.5, "<=", "worst error")
    assert held["holds"] and not held["fragile"]
    assert held["value"] == pytest.approx(0.3) and held["margin"] == pytest.approx(0.2)
    assert held["relative"] == pytest.approx(0.4) and held["range"] == pytest.approx([0.1, 0.3])
    assert held["method"] == "leave-one-out" and held["interval"] == pytest.approx([0.2, 0.3])
    assert held["flips"] == 0 and held["resamples"] == 3
    close = margins.every_seed([0.1, 0.2, 0.3], 0.35, "<=", "worst error")  # 0.05 from it, std 0.1
    assert close["holds"] and close["fragile"] and "std" in close["why_fragile"]
    one_bad = margins.every_seed([0.1, 0.2, 0.6], 0.5, "<=", "worst error")  # holds without seed 2
    assert not one_bad["holds"] and one_bad["fragile"] and one_bad["flips"] == 1
    two_bad = margins.every_seed([0.6, 0.7, 0.2], 0.5, "<=", "worst error")
    assert not two_bad["holds"] and not two_bad["fragile"] and two_bad["margin"] == pytest.approx(-0.2)
    stalls = margins.every_seed([0.9, 0.95], 0.88, ">=", "best error")
    assert stalls["holds"] and stalls["value"] == pytest.approx(0.9)


def test_diverged_seeds_count_as_told_or_leave_no_margin():
    counted = margins.every_seed([0.1, None, 0.2], 0.5, "<=", "worst error", diverged=0.9)
    assert not counted["holds"] and counted["margin"] == pytest.approx(-0.4)
    uncounted = margins.every_seed([0.1, None, 0.2], 0.5, "<=", "worst error")
    assert not uncounted["holds"] and uncounted["margin"] is None and uncounted["value"] is None
    assert uncounted["fragile"]  # without the diverged seed the claim holds
    fails = margins.every_seed([None, None], 0.8, ">", "best error", diverged=0.9)
    assert fails["holds"] and fails["margin"] == pytest.approx(0.1)


def test_bootstrap_from_ten_draws_is_deterministic_and_flags_a_coin_flip():
    rng = np.random.default_rng(1)
    draws = {"a": list(rng.normal(1.0, 0.5, 20))}
    mean = lambda samples: float(np.mean(samples["a"]))
    first = margins.margin(mean, draws, 1.0, ">=", "mean", over="draws")
    assert first == margins.margin(mean, draws, 1.0, ">=", "mean", over="draws")
    assert first["method"] == "bootstrap 90%" and first["resamples"] == margins.BOOTSTRAP_RESAMPLES
    assert first["interval"][0] < first["value"] < first["interval"][1]
    assert first["fragile"]  # a mean within its own noise of the threshold
    assert not margins.margin(mean, draws, 0.0, ">=", "mean", over="draws")["fragile"]


def test_combine_decides_on_the_nearest_condition():
    wide = margins.margin(lambda s: float(np.mean(s["x"])), {"x": [10.0, 11.0, 12.0]}, 5.0, ">=", "ratio")
    near = margins.margin(lambda s: float(np.mean(s["x"])), {"x": [2.1, 2.2, 2.3]}, 2.0, ">=", "growth")
    both = margins.combine([wide, near])
    assert both["holds"] and both["statistic"] == "growth" and len(both["conditions"]) == 2
    failing = margins.margin(lambda s: float(np.mean(s["x"])), {"x": [1.0, 1.5, 3.2]}, 2.0, ">=", "growth")
    assert failing["fragile"] and not failing["holds"]  # mean 1.9; leaving 1.0 out: 2.35
    assert margins.combine([wide, failing])["fragile"]
    solid_failure = margins.margin(lambda s: float(np.mean(s["x"])), {"x": [0.1, 0.2, 0.3]}, 2.0, ">=", "g")
    assert not margins.combine([failing, solid_failure])["fragile"]  # one failure does not flip


def test_groups_of_different_seeds_get_a_margin_without_an_interval():
    record = margins.margin(lambda s: float(np.mean(s["a"]) - np.mean(s["b"])), {"a": [1.0, 2.0], "b": [0.5]},
                            0.0, ">", "difference")
    assert record["holds"] and record["n"] is None and record["interval"] is None
    assert "no redraw" in margins.margin_cells(record)[2]


def test_claim_refuses_a_margin_that_disagrees_and_the_schema_requires_margins():
    record = margins.every_seed([0.1, 0.2], 0.5, "<=", "worst error")
    item = reporting.claim("c", "criterion", {}, record, holds=True)
    assert item["holds"] and not item["fragile"] and item["margin"] is record
    with pytest.raises(ValueError, match="criterion says holds=False"):
        reporting.claim("c", "criterion", {}, record, holds=False)
    report = {"paper": "p", "profile": "quick", "dataset": "d", "seeds": [0, 1], "claims": [item]}
    reporting.check_report(report)
    without = {**report, "claims": [{k: v for k, v in item.items() if k != "margin"}]}
    with pytest.raises(ValueError, match="exactly the fields"):
        reporting.check_report(without)
    text = "\n".join(reporting.claims_table([reporting.claim(
        "f", "criterion", {}, margins.every_seed([0.1, 0.6], 0.5, "<=", "worst error"))]))
    assert "**no**, fragile" in text and "leave-one-out" in text
    assert reporting.verdict_counts([item]) == "1 of 1 hold"


@pytest.mark.parametrize("workdir", COMMITTED, ids=[str(p.relative_to(ROOT / "results")) for p in COMMITTED])
def test_committed_reports_are_what_the_code_redraws(workdir, tmp_path):
    """Every committed report carries a margin on every claim, and redrawing it from its
    own values (and the measurement files beside it) gives the committed files again."""
    copy = tmp_path / "work"
    shutil.copytree(workdir, copy)
    committed = json.loads((workdir / "report.json").read_text())
    assert all(item["margin"]["statistic"] for item in committed["claims"])
    redraw_claims.redraw(copy)
    assert json.loads((copy / "report.json").read_text()) == committed
    assert (copy / "report.md").read_text() == (workdir / "report.md").read_text()


def test_readme_quotes_each_committed_verdict_count():
    readme = (ROOT / "README.md").read_text()
    for workdir in COMMITTED:
        if workdir.parent.name == "he2015":
            continue  # its claims have their own table, checked below
        claims = json.loads((workdir / "report.json").read_text())["claims"]
        counts = reporting.verdict_counts(claims)
        assert counts in readme, (workdir, counts)


def test_readme_he_table_shows_each_verdict():
    readme = (ROOT / "README.md").read_text()
    for profile, column in (("faithful", 1), ("quick", 2)):
        report = json.loads((ROOT / "results" / "he2015" / profile / "report.json").read_text())
        for item in report["claims"]:
            row = next(line for line in readme.splitlines() if line.startswith(f"| `{item['id']}`"))
            cell = row.split(" | ")[column]
            assert re.match(re.escape(margins.verdict_text(item["margin"], item["holds"])) + r"(:|$)", cell), row
