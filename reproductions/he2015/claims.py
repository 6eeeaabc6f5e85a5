"""He et al. 2015, Figs. 2-3: the claims, their criteria (fixed before the runs) and the
report (`report.json` / `report.md`)."""

import math

import numpy as np

from reproductions import margins
from reproductions import report as reporting
from reproductions.configs import he2015 as he_config
from reproductions.fidelity import fidelity_markdown, stored_fidelity
from reproductions.he2015.measure import gradient_norms
from reproductions.runs import (
    chance_error,
    diverged_count,
    final_test_errors,
    first_step_at_or_below,
    seed_summary,
    select,
)

# Claim criteria, fixed before the runs (errors are fractions; chance = 1 - 1/K).
CONVERGED_BELOW_CHANCE = 0.10  # converges: final test error <= chance - 0.10, every seed
STALLED_WITHIN_CHANCE = 0.02   # stalls: final test error >= chance - 0.02, every seed


def _gradient_ratio(he_group, xavier_group):
    """Xavier's over He's kernel-gradient norm at initialization, geometric mean over
    seeds, for the first (stem) layer and the last (logits) layer."""
    he, xavier = gradient_norms(he_group), gradient_norms(xavier_group)
    if not (he.size and xavier.size):
        return None
    ratio = lambda column: float(np.exp(np.mean(np.log(xavier[:, column]))
                                        - np.mean(np.log(he[:, column]))))
    return {"stem": ratio(0), "logits": ratio(-1)}


def _errors(runs, figure, init):
    """Per seed: the final test errors of one curve (None for a diverged run)."""
    return final_test_errors(select(runs, figure=figure, init=init))


def _steps_of(runs):
    """Each figure's training budget in updates (from its He runs)."""
    return {figure: select(runs, figure=figure, init="he")[0]["config"]["steps"]
            for figure in he_config.FIGURES if select(runs, figure=figure, init="he")}


def evidence(runs, chance, budget):
    """What the claims are decided on, per seed (the same fields `evidence_from_report`
    reads back from a report): final test errors per figure and initializer, the 22-layer
    runs' first converged step, the gradient ratio at initialization."""
    threshold = chance - CONVERGED_BELOW_CHANCE
    return {
        "chance": chance, "budget": budget,
        "errors": {figure: {init: _errors(runs, figure, init) for init in ("he", "xavier")}
                   for figure in ("fig2", "fig3")},
        "fig2_steps": {init: [first_step_at_or_below(run, threshold) for run in select(runs, figure="fig2", init=init)]
                       for init in ("he", "xavier")},
        "gradient_ratio": _gradient_ratio(select(runs, figure="fig3", init="he"),
                                          select(runs, figure="fig3", init="xavier")),
    }


def evidence_from_report(report):
    """`evidence` as a committed report holds it (per-seed errors in its tables, the
    converged steps and the gradient ratio in its claims' measured values)."""
    measured = {item["id"]: item["measured"] for item in report["claims"]}
    steps = report["budget"]["steps"]
    tables = report["final_test_error_by_initializer"]
    return {
        "chance": measured["fig3_he_converges"]["chance"],
        "budget": steps.get("fig2") if isinstance(steps, dict) else steps,
        "errors": {figure: {init: tables[figure][init]["final_test_error"]["per_seed"] for init in ("he", "xavier")}
                   for figure in ("fig2", "fig3")},
        "fig2_steps": {init: measured["fig2_he_earlier"][f"{init}_steps"] for init in ("he", "xavier")},
        "gradient_ratio": measured["fig3_xavier_stalls"]["init_gradient_norm_xavier_over_he"],
    }


def fig3_claims(found):
    """Fig. 3, 30 layers: Xavier stalls, He converges (a diverged seed fails both)."""
    chance = found["chance"]
    he, xavier = found["errors"]["fig3"]["he"], found["errors"]["fig3"]["xavier"]
    return [
        reporting.claim(
            "fig3_xavier_stalls",
            f"30 layers, Xavier (Var=1/fan_in): final test error >= chance - "
            f"{STALLED_WITHIN_CHANCE:g} (chance = {chance:.4f}) on every seed",
            {"final_test_error": seed_summary(xavier), "chance": chance,
             "init_gradient_norm_xavier_over_he": found["gradient_ratio"]},
            margins.every_seed(xavier, chance - STALLED_WITHIN_CHANCE, ">=", "lowest seed's final test error")),
        reporting.claim(
            "fig3_he_converges",
            f"30 layers, He (fan_in): final test error <= chance - "
            f"{CONVERGED_BELOW_CHANCE:g} = {chance - CONVERGED_BELOW_CHANCE:.4f} on every seed, no divergence",
            {"final_test_error": seed_summary(he), "chance": chance},
            margins.every_seed(he, chance - CONVERGED_BELOW_CHANCE, "<=", "highest seed's final test error")),
    ]


def fig2_claims(found):
    """Fig. 2, 22 layers: both converge, He earlier (a seed that never converges counts as
    converging at the budget + 1)."""
    chance, budget = found["chance"], found["budget"]
    threshold = chance - CONVERGED_BELOW_CHANCE
    he, xavier = found["errors"]["fig2"]["he"], found["errors"]["fig2"]["xavier"]
    he_steps, xavier_steps = found["fig2_steps"]["he"], found["fig2_steps"]["xavier"]

    def beyond(steps):  # a seed that never converged counts as converging just after the budget
        return [budget + 1 if step is None else step for step in steps]

    def earlier_by(samples):  # Xavier's mean first converged step minus He's
        if not samples["he"]:
            return math.nan
        return float(np.mean(beyond(samples["xavier"])) - np.mean(beyond(samples["he"])))

    return [
        reporting.claim(
            "fig2_both_converge",
            f"22 layers: He and Xavier both reach final test error <= {threshold:.4f} "
            "on every seed, no divergence",
            {"he_final_test_error": seed_summary(he), "xavier_final_test_error": seed_summary(xavier),
             "chance": chance},
            margins.combine([margins.every_seed(he, threshold, "<=", "He's highest seed's final test error"),
                             margins.every_seed(xavier, threshold, "<=",
                                                "Xavier's highest seed's final test error")])),
        reporting.claim(
            "fig2_he_earlier",
            f"22 layers: mean over seeds of the first evaluated step with test error <= "
            f"{threshold:.4f} is smaller for He than for Xavier (never reached = "
            f"budget + 1 = {budget + 1})",
            {"he_steps": he_steps, "xavier_steps": xavier_steps,
             "he_mean": float(np.mean(beyond(he_steps))) if he_steps else None,
             "xavier_mean": float(np.mean(beyond(xavier_steps))) if xavier_steps else None},
            margins.margin(earlier_by, {"he": he_steps, "xavier": xavier_steps}, 0.0, ">",
                           "Xavier's minus He's mean first converged step (updates)")),
    ]


def claims(found):
    """The four claims, decided on `evidence` (from runs or from a report)."""
    return fig3_claims(found) + fig2_claims(found)


def redraw_report(report, workdir=None):
    """The report with its claims redrawn from its own values (the run folders are not
    committed)."""
    order = [key for key, _, _ in he_config.INITIALIZERS]
    report = {**reporting.numeric_order(report), "fidelity": stored_fidelity(report, workdir),
              "final_test_error_by_initializer": {
        figure: reporting.in_order(rows, order) for figure, rows in report["final_test_error_by_initializer"].items()}}
    return {**report, "claims": claims(evidence_from_report(report))}


def build_report(runs, profile, fidelity=None):
    """report.json's content: the four claims, the final errors per initializer (those the
    profile runs) and the profile's fidelity gauge (`reproductions.fidelity`), if given."""
    first = runs[0]["config"]
    chance = chance_error(runs[0])
    steps_of = _steps_of(runs)
    budget = steps_of.get("fig2", first["steps"])  # fig2_he_earlier: the 22-layer runs' budget
    per_init = {
        figure: {name: {"label": label, "final_test_error": seed_summary(_errors(runs, figure, name)),
                        "diverged": diverged_count(select(runs, figure=figure, init=name))}
                 for name, label, _ in he_config.INITIALIZERS if select(runs, figure=figure, init=name)}
        for figure in he_config.FIGURES
    }
    learning_rates = {figure: select(runs, figure=figure, init="he")[0]["config"]["learning_rate"]
                      for figure in he_config.FIGURES if select(runs, figure=figure, init="he")}
    return {
        "paper": "he2015",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": steps_of if len(set(steps_of.values())) > 1 else budget,
                   "batch_size": first["batch_size"], "learning_rate": learning_rates,
                   "optimizer": f"{first['optimizer']} {first['momentum']}",
                   "width_multiplier": first["model_kwargs"]["width_multiplier"],
                   "stem": first["model_kwargs"].get("stem", "paper")},
        "claims": claims(evidence(runs, chance, budget)),
        "final_test_error_by_initializer": per_init,
        "fidelity": fidelity,
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}, {budget['steps']} updates "
               f"of batch {budget['batch_size']}, {budget['optimizer']}, "
               f"learning rates {budget['learning_rate']}, width x{budget['width_multiplier']:g}, "
               f"stem {budget.get('stem', 'paper')}.")
    sections = []
    for figure, depth in he_config.FIGURES.items():
        rows = []
        for row in report["final_test_error_by_initializer"][figure].values():
            error = row["final_test_error"]
            per_seed = ", ".join(reporting.percent(v) for v in error["per_seed"])
            rows.append((row["label"], reporting.percent(error["mean"]), reporting.percent(error["std"]),
                         per_seed, row["diverged"]))
        sections.append([f"Final test error (%) after the budget, {depth} layers ({figure}):", "",
                         *reporting.markdown_table(("initializer", "mean", "std", "per seed", "diverged"),
                                                   rows)])
    sections.append(fidelity_markdown(report.get("fidelity")) or
                    ["Fidelity at initialization: not measured (no fidelity.json in the workdir)."])
    return reporting.report_markdown(
        f"He et al. 2015, Figs. 2-3: claims ({report['profile']} profile)", setting, report["claims"],
        sections)
