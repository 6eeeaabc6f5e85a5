"""He et al. 2015, Figs. 2-3: the claims, their criteria (fixed before the runs) and the
report (`report.json` / `report.md`)."""

import numpy as np

from reproductions import report as reporting
from reproductions.configs import he2015 as he_config
from reproductions.he2015.measure import gradient_norms
from reproductions.runs import diverged_count, final_test_errors, seed_summary, select

# Claim criteria, fixed before the runs (errors are fractions; chance = 1 - 1/K).
CONVERGED_BELOW_CHANCE = 0.10  # converges: final test error <= chance - 0.10, every seed
STALLED_WITHIN_CHANCE = 0.02   # stalls: final test error >= chance - 0.02, every seed


def steps_to_reach(group, threshold):
    """Per seed: first evaluated step with test error <= threshold (None: never)."""
    result = []
    for run in group:
        reached = [m["step"] for m in run["metrics"]
                   if m.get("test_error") is not None and m["test_error"] <= threshold]
        result.append(reached[0] if reached else None)
    return result


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


def build_report(runs, profile):
    """report.json's content: the four claims and the final errors per initializer."""
    first = runs[0]["config"]
    chance = 1 - 1 / first["model_kwargs"]["num_classes"]
    threshold = chance - CONVERGED_BELOW_CHANCE
    group = lambda figure, init: select(runs, figure=figure, init=init)
    errors = lambda figure, init: final_test_errors(group(figure, init))
    he3, xavier3 = errors("fig3", "he"), errors("fig3", "xavier")
    he2, xavier2 = errors("fig2", "he"), errors("fig2", "xavier")
    he2_steps = steps_to_reach(group("fig2", "he"), threshold)
    xavier2_steps = steps_to_reach(group("fig2", "xavier"), threshold)
    steps_of = {figure: group(figure, "he")[0]["config"]["steps"] for figure in he_config.FIGURES
                if group(figure, "he")}
    budget = steps_of.get("fig2", first["steps"])  # fig2_he_earlier: the 22-layer runs' budget
    beyond = lambda steps: [budget + 1 if s is None else s for s in steps]
    claims = [
        reporting.claim(
            "fig3_xavier_stalls",
            f"30 layers, Xavier (Var=1/fan_in): final test error >= chance - "
            f"{STALLED_WITHIN_CHANCE:g} (chance = {chance:.4f}) on every seed",
            {"final_test_error": seed_summary(xavier3), "chance": chance,
             "init_gradient_norm_xavier_over_he": _gradient_ratio(group("fig3", "he"),
                                                                  group("fig3", "xavier"))},
            bool(xavier3) and _stalled(xavier3, chance)),
        reporting.claim(
            "fig3_he_converges",
            f"30 layers, He (fan_in): final test error <= chance - "
            f"{CONVERGED_BELOW_CHANCE:g} = {threshold:.4f} on every seed, no divergence",
            {"final_test_error": seed_summary(he3), "chance": chance},
            bool(he3) and _converged(he3, chance)),
        reporting.claim(
            "fig2_both_converge",
            f"22 layers: He and Xavier both reach final test error <= {threshold:.4f} "
            "on every seed, no divergence",
            {"he_final_test_error": seed_summary(he2), "xavier_final_test_error": seed_summary(xavier2),
             "chance": chance},
            bool(he2) and bool(xavier2) and _converged(he2, chance) and _converged(xavier2, chance)),
        reporting.claim(
            "fig2_he_earlier",
            f"22 layers: mean over seeds of the first evaluated step with test error <= "
            f"{threshold:.4f} is smaller for He than for Xavier (never reached = "
            f"budget + 1 = {budget + 1})",
            {"he_steps": he2_steps, "xavier_steps": xavier2_steps,
             "he_mean": float(np.mean(beyond(he2_steps))) if he2_steps else None,
             "xavier_mean": float(np.mean(beyond(xavier2_steps))) if xavier2_steps else None},
            bool(he2_steps) and bool(xavier2_steps) and any(s is not None for s in he2_steps)
            and np.mean(beyond(he2_steps)) < np.mean(beyond(xavier2_steps))),
    ]
    per_init = {
        figure: {name: {"label": label, "final_test_error": seed_summary(errors(figure, name)),
                        "diverged": diverged_count(group(figure, name))}
                 for name, label, _ in he_config.INITIALIZERS}
        for figure in he_config.FIGURES
    }
    learning_rates = {figure: group(figure, "he")[0]["config"]["learning_rate"]
                      for figure in he_config.FIGURES if group(figure, "he")}
    return {
        "paper": "he2015",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": steps_of if len(set(steps_of.values())) > 1 else budget,
                   "batch_size": first["batch_size"], "learning_rate": learning_rates,
                   "optimizer": f"{first['optimizer']} {first['momentum']}",
                   "width_multiplier": first["model_kwargs"]["width_multiplier"]},
        "claims": claims,
        "final_test_error_by_initializer": per_init,
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}, {budget['steps']} updates "
               f"of batch {budget['batch_size']}, {budget['optimizer']}, "
               f"learning rates {budget['learning_rate']}, width x{budget['width_multiplier']:g}.")
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
    return reporting.report_markdown(
        f"He et al. 2015, Figs. 2-3: claims ({report['profile']} profile)", setting, report["claims"],
        sections)
