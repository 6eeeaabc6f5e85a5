"""The calibration panel's table, confusion table, claims (criteria in
`reproductions/configs/doctor_panel.py`, fixed before the runs) and report."""

import math

import numpy as np

from reproductions import data, margins
from reproductions import report as reporting
from reproductions.configs import doctor_panel as panel
from reproductions.runs import final_error, select, seed_summary

CLAIM_IDS = ("known_good_not_warned", "known_bad_warned", "warnings_match_training",
             "recommendation_never_worse")


def chance_error(run):
    """Guessing's error on the run's balanced classes."""
    return 1.0 - 1.0 / data.num_classes(run["config"]["dataset"])


def trained(run):
    """Final test error <= chance - TRAINED_BELOW_CHANCE (a diverged run did not train)."""
    error = final_error(run)
    return error is not None and error <= chance_error(run) - panel.TRAINED_BELOW_CHANCE


def _diverged_as_1(errors):
    """Per-seed errors with a diverged run (None) counted as DIVERGED_ERROR."""
    return [panel.DIVERGED_ERROR if e is None else e for e in errors]


def _std(values):
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _arm(group):
    """Final errors over seeds (diverged: None in per_seed, DIVERGED_ERROR in the mean used
    to compare arms), and which seeds trained."""
    group = sorted(group, key=lambda run: run["config"]["seed"])
    errors = [final_error(run) for run in group]
    counted = _diverged_as_1(errors)
    return {"method": group[0]["config"]["tags"]["method"], "seeds": [run["config"]["seed"] for run in group],
            "final_test_error": seed_summary(errors), "diverged": sum(e is None for e in errors),
            "mean_error_diverged_as_1": float(np.mean(counted)),
            "std_error_diverged_as_1": _std(counted),
            "trained": [trained(run) for run in group]}


def panel_rows(runs, verdicts):
    """One row per net (in PANEL's order): expected, verdicts, recommendation, both arms."""
    rows = {}
    for key, (expected, label, why, _) in {**panel.PANEL, **panel.JUDGED_ONLY}.items():
        judged = sorted(verdicts.get(key, []), key=lambda v: v["seed"])
        current, recommended = select(runs, entry=key, arm="current"), select(runs, entry=key, arm="recommended")
        if not judged and not current:
            continue
        compared = [v for v in judged if v["comparison"] is not None]
        rows[key] = {
            "label": label, "expected": expected, "why": why, "family": judged[0]["family"] if judged else None,
            "examined_on": judged[0]["examined_on"] if judged else None,
            "warned_seeds": [v["seed"] for v in judged if v["warnings"]], "judged_seeds": [v["seed"] for v in judged],
            "warnings": sorted({kind for v in judged for kind in v["warnings"]}),
            "notes": sorted({kind for v in judged for kind in v["notes"]}),
            "recommended": (compared[0]["recommended"] or "none better") if compared
            else ("current" if judged and not any(v["warnings"] for v in judged) else None),
            "comparison": compared[0]["comparison"] if compared else None,
            "current": _arm(current) if current else None,
            "doctors_choice": _arm(recommended) if recommended else None}
    return rows


def _trains_badly(row):
    return row["current"] is not None and not all(row["current"]["trained"])


def confusion(rows):
    """Nets by (warned on some seed) x (did not train on every seed with the current init)."""
    cells = {"warned_trains_badly": [], "warned_trains": [], "quiet_trains_badly": [], "quiet_trains": []}
    for key, row in rows.items():
        if row["current"] is None:
            continue
        warned = "warned" if row["warned_seeds"] else "quiet"
        cells[f"{warned}_{'trains_badly' if _trains_badly(row) else 'trains'}"].append(key)
    return cells


def _tolerance(current_std, chosen_std):
    return max(panel.NOISE_FLOOR, panel.NOISE_STDS * max(current_std, chosen_std))


def _not_worse(row):
    current, chosen = row["current"], row["doctors_choice"]
    tolerance = _tolerance(current["std_error_diverged_as_1"], chosen["std_error_diverged_as_1"])
    return {"method": chosen["method"], "current_mean": current["mean_error_diverged_as_1"],
            "recommended_mean": chosen["mean_error_diverged_as_1"], "tolerance": tolerance,
            "better_by": current["mean_error_diverged_as_1"] - chosen["mean_error_diverged_as_1"],
            "holds": chosen["mean_error_diverged_as_1"] <= current["mean_error_diverged_as_1"] + tolerance}


def _warned(row):
    return [seed in row["warned_seeds"] for seed in row["judged_seeds"]]


def _least_slack(samples):
    """Over the warned nets with a recommendation run: the smallest (current mean + tolerance
    - recommended mean), recomputed from the (resampled) seeds' errors."""
    return min((float(np.mean(arms["current"]) + _tolerance(_std(arms["current"]), _std(arms["chosen"]))
                      - np.mean(arms["chosen"])) for arms in samples.values()), default=math.nan)


def _off_diagonal(samples):
    """Nets warned on some (resampled) seed that train on every one, plus nets never warned
    that fail to train on some."""
    return sum(any(net["warned"]) == all(net["trained"]) for net in samples.values())


def build_claims(rows):
    """The four claims; their margins redraw the panel's seeds (every net judged and trained
    on the same seeds)."""
    good = {k: r for k, r in rows.items() if r["expected"] == "good"}
    bad = {k: r for k, r in rows.items() if r["expected"] == "bad"}
    cells = confusion(rows)
    compared = {k: _not_worse(r) for k, r in rows.items() if r["current"] and r["doctors_choice"]}
    without = [k for k, r in rows.items() if r["recommended"] == "none better"]
    trained_rule = f"final test error <= chance - {panel.TRAINED_BELOW_CHANCE:g} on every seed"
    trained = {k: {"warned": _warned(r), "trained": r["current"]["trained"]} for k, r in rows.items() if r["current"]}
    arms = {k: {arm: _diverged_as_1(rows[k][key]["final_test_error"]["per_seed"])
                for arm, key in (("current", "current"), ("chosen", "doctors_choice"))} for k in compared}
    return [
        reporting.claim(
            "known_good_not_warned",
            "no known-good net (its authors' or library's init) gets a warning on any seed",
            {"warned_seeds": {k: r["warned_seeds"] for k, r in good.items()}},
            margins.margin(lambda s: sum(map(sum, s.values())) if s else math.nan,
                           {k: _warned(r) for k, r in good.items()}, 0, "<=",
                           "warnings on known-good (net, seed) pairs"),
            bool(good) and not any(r["warned_seeds"] for r in good.values())),
        reporting.claim(
            "known_bad_warned", "every known-bad net gets a warning on every seed",
            {"warned_seeds": {k: r["warned_seeds"] for k, r in bad.items()},
             "judged_seeds": {k: r["judged_seeds"] for k, r in bad.items()}},
            margins.margin(lambda s: sum(len(v) - sum(v) for v in s.values()) if s else math.nan,
                           {k: _warned(r) for k, r in bad.items()}, 0, "<=",
                           "known-bad (net, seed) pairs without a warning"),
            bool(bad) and all(r["judged_seeds"] and r["warned_seeds"] == r["judged_seeds"] for r in bad.values())),
        reporting.claim(
            "warnings_match_training",
            f"a net is warned (on some seed) exactly when its current init does not train ({trained_rule}): "
            "the confusion table's off-diagonal cells are empty",
            cells,
            margins.margin(lambda s: _off_diagonal(s) if s else math.nan, trained, 0, "<=",
                           "nets in the confusion table's off-diagonal cells"),
            bool(rows) and not cells["warned_trains"] and not cells["quiet_trains_badly"]),
        reporting.claim(
            "recommendation_never_worse",
            "on every warned net, the doctor's recommendation trains no worse than the current init: mean final "
            f"test error (diverged = {panel.DIVERGED_ERROR:g}) at most the current's + max("
            f"{panel.NOISE_FLOOR:g}, {panel.NOISE_STDS} x the larger seed std); a warned net where no candidate "
            "had fewer warnings gets no recommendation and no run (listed)",
            {"recommended_runs": compared, "no_recommendation": without},
            margins.margin(_least_slack, arms, 0.0, ">=",
                           "smallest (current mean + tolerance - recommended mean) over the warned nets"),
            bool(compared) and all(c["holds"] for c in compared.values())),
    ]


def redraw_report(report, workdir=None):
    """The report with its claims redrawn from its panel table (the run folders are not
    committed)."""
    report = {**report, "panel": reporting.in_order(report["panel"], [*panel.PANEL, *panel.JUDGED_ONLY])}
    return {**report, "claims": build_claims(report["panel"])}


def build_report(runs, verdicts, profile, seeds):
    rows = panel_rows(runs, verdicts)
    datasets = sorted({run["config"]["dataset"] for run in runs})
    budget = {key: run["config"]["steps"] for key in rows for run in select(runs, entry=key, arm="current")[:1]}
    return {"paper": "doctor_panel", "profile": profile, "dataset": ", ".join(datasets), "seeds": list(seeds),
            "claims": build_claims(rows), "panel": rows, "confusion": confusion(rows), "steps": budget}


def _errors(arm):
    if arm is None:
        return "-"
    summary = arm["final_test_error"]
    spread = f" ± {reporting.percent(summary['std'])}" if summary["std"] is not None else ""
    diverged = f", {arm['diverged']} diverged" if arm["diverged"] else ""
    return (f"{reporting.percent(summary['mean'])}{spread} ({sum(arm['trained'])}/{len(arm['trained'])} "
            f"trained{diverged})")


def report_markdown(report):
    rows = report["panel"]
    table = reporting.markdown_table(
        ("net", "expected", "warned seeds", "warnings", "doctor recommends", "current init: final test error %",
         "doctor's choice: final test error %"),
        [(r["label"], r["expected"], f"{len(r['warned_seeds'])}/{len(r['judged_seeds'])}",
          ", ".join(r["warnings"]) or "-", r["recommended"] or "-",
          _errors(r["current"]) if r["current"] else "not trained (judged only)",
          _errors(r["doctors_choice"])) for r in rows.values()])
    cells = report["confusion"]
    matrix = reporting.markdown_table(
        ("", "trains (current init, every seed)", "trains badly"),
        [("warned", ", ".join(cells["warned_trains"]) or "-", ", ".join(cells["warned_trains_badly"]) or "-"),
         ("not warned", ", ".join(cells["quiet_trains"]) or "-", ", ".join(cells["quiet_trains_badly"]) or "-")])
    setting = (f"The doctor's verdict on each net as built (seeds {report['seeds']}), then a short training run "
               f"from the current init and, on warned nets, from the doctor's recommendation. Data: "
               f"{report['dataset']} (offline, 9 classes, chance error 88.9%). Trained: final test error <= chance "
               f"- {100 * panel.TRAINED_BELOW_CHANCE:.0f} points. Updates per run: "
               f"{sorted(set(report['steps'].values()))}. Settings and criteria: "
               "reproductions/configs/doctor_panel.py; each verdict's full report: verdicts/<net>-seed<seed>.md.")
    comparison = ["## The doctor's comparison on warned nets (first seed): warnings per method", ""]
    for key, row in rows.items():
        if row["comparison"]:
            found = "; ".join(f"{method}: {', '.join(kinds) or 'none'}" for method, kinds in row["comparison"].items())
            comparison.append(f"- {row['label']}: {found}")
    return reporting.report_markdown(
        f"Init doctor calibration panel: claims ({report['profile']} profile)", setting, report["claims"],
        [["## The panel", "", *table], ["## Confusion table (nets)", "", *matrix], comparison])
