"""He et al. 2015, Figs. 2-3: the claims, their criteria (fixed before the runs) and the
report (`report.json` / `report.md`)."""

import numpy as np

from reproductions import report as reporting
from reproductions.configs import he2015 as he_config
from reproductions.fidelity import fidelity_markdown
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


def _converged(errors, chance):
    return all(e is not None and e <= chance - CONVERGED_BELOW_CHANCE for e in errors)


def _stalled(errors, chance):
    return all(e is not None and e >= chance - STALLED_WITHIN_CHANCE for e in errors)


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


def fig3_claims(runs, chance):
    """Fig. 3, 30 layers: Xavier stalls, He converges."""
    he, xavier = _errors(runs, "fig3", "he"), _errors(runs, "fig3", "xavier")
    ratio = _gradient_ratio(select(runs, figure="fig3", init="he"), select(runs, figure="fig3", init="xavier"))
    return [
        reporting.claim(
            "fig3_xavier_stalls",
            f"30 layers, Xavier (Var=1/fan_in): final test error >= chance - "
            f"{STALLED_WITHIN_CHANCE:g} (chance = {chance:.4f}) on every seed",
            {"final_test_error": seed_summary(xavier), "chance": chance,
             "init_gradient_norm_xavier_over_he": ratio},
            bool(xavier) and _stalled(xavier, chance)),
        reporting.claim(
            "fig3_he_converges",
            f"30 layers, He (fan_in): final test error <= chance - "
            f"{CONVERGED_BELOW_CHANCE:g} = {chance - CONVERGED_BELOW_CHANCE:.4f} on every seed, no divergence",
            {"final_test_error": seed_summary(he), "chance": chance},
            bool(he) and _converged(he, chance)),
    ]


def fig2_claims(runs, chance, budget):
    """Fig. 2, 22 layers: both converge, He earlier (a seed that never converges counts as
    converging at `budget` + 1)."""
    threshold = chance - CONVERGED_BELOW_CHANCE
    he, xavier = _errors(runs, "fig2", "he"), _errors(runs, "fig2", "xavier")
    he_steps, xavier_steps = ([first_step_at_or_below(run, threshold) for run in select(runs, figure="fig2", init=init)]
                              for init in ("he", "xavier"))

    def beyond(steps):  # a seed that never converged counts as converging just after the budget
        return [budget + 1 if step is None else step for step in steps]

    return [
        reporting.claim(
            "fig2_both_converge",
            f"22 layers: He and Xavier both reach final test error <= {threshold:.4f} "
            "on every seed, no divergence",
            {"he_final_test_error": seed_summary(he), "xavier_final_test_error": seed_summary(xavier),
             "chance": chance},
            bool(he) and bool(xavier) and _converged(he, chance) and _converged(xavier, chance)),
        reporting.claim(
            "fig2_he_earlier",
            f"22 layers: mean over seeds of the first evaluated step with test error <= "
            f"{threshold:.4f} is smaller for He than for Xavier (never reached = "
            f"budget + 1 = {budget + 1})",
            {"he_steps": he_steps, "xavier_steps": xavier_steps,
             "he_mean": float(np.mean(beyond(he_steps))) if he_steps else None,
             "xavier_mean": float(np.mean(beyond(xavier_steps))) if xavier_steps else None},
            bool(he_steps) and bool(xavier_steps) and any(s is not None for s in he_steps)
            and np.mean(beyond(he_steps)) < np.mean(beyond(xavier_steps))),
    ]


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
        "claims": fig3_claims(runs, chance) + fig2_claims(runs, chance, budget),
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
