"""Reproduce He et al. 2015, Figs. 2 and 3 (22- and 30-layer plain ReLU nets).

    python -m reproductions.he2015                       # quick profile (default)
    python -m reproductions.he2015 --profile full        # CIFAR-10, for a GPU
    python -m reproductions.he2015 --plot-only           # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run, with `gradients.jsonl`,
the per-layer kernel-gradient norms on a fixed batch at every evaluation),
`fig2_22layer.png`, `fig3_30layer.png`, `gradients_30layer.png`, `report.json`
and `report.md`. The `lr_search` profile writes `lr_search.md` instead. Settings,
profiles and runtimes: `reproductions/configs/he2015.py`.
"""

import json
import pathlib

import keras
import numpy as np

from reproductions import cli, data, harness, plots
from reproductions.configs import he2015 as he_config
from reproductions.runio import append_jsonl, read_jsonl, write_json_atomic

# Claim criteria, fixed before the runs (errors are fractions; chance = 1 - 1/K).
CONVERGED_BELOW_CHANCE = 0.10  # converges: final test error <= chance - 0.10, every seed
STALLED_WITHIN_CHANCE = 0.02   # stalls: final test error >= chance - 0.02, every seed
GRADIENT_BATCH = 64


class GradientNormRecorder(keras.callbacks.Callback):
    """Appends the Frobenius norm of d loss / d kernel of every weight layer, on one
    fixed batch, at step 0 and after every `every` steps, to a JSON-lines file."""

    def __init__(self, path, images, labels, every):
        super().__init__()
        self.path, self.images, self.labels, self.every = path, images, labels, every
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def _record(self, step):
        import tensorflow as tf  # the reproductions train with the TensorFlow backend

        layers = [layer for layer in self.model.layers if getattr(layer, "kernel", None) is not None]
        kernels = [layer.kernel for layer in layers]
        with tf.GradientTape() as tape:
            loss = self.loss(self.labels, self.model(self.images, training=False))
        gradients = tape.gradient(loss, kernels)
        append_jsonl(self.path, {
            "step": step,
            "layers": [layer.name for layer in layers],
            "kernel_grad_norm": [float(tf.norm(g)) for g in gradients],
        })

    def on_train_begin(self, logs=None):
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record((epoch + 1) * self.every)


def _gradient_callbacks(workdir, tensorboard=False):  # the norms are not written to TensorBoard
    batches = {}

    def callbacks_for(config):
        key = (config.dataset, config.data_dir)
        if key not in batches:  # the same fixed validation batch for every run
            batches[key] = data.as_numpy(data.load(config.dataset, "validation", GRADIENT_BATCH,
                                                   num_examples=GRADIENT_BATCH, data_dir=config.data_dir))
        path = harness.run_dir_of(config, workdir) / "gradients.jsonl"
        return [GradientNormRecorder(path, *batches[key], every=config.eval_every)]

    return callbacks_for


# ----------------------------------------------------------------------------- report


def _steps_to_reach(group, threshold):
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


def _gradient_norms(group, step=0):
    """{layer index: [norm per seed]} at `step` from the runs' gradients.jsonl."""
    per_seed = []
    for run in group:
        path = run["dir"] / "gradients.jsonl"
        records = [r for r in read_jsonl(path) if r["step"] == step] if path.exists() else []
        if records:
            per_seed.append(records[0]["kernel_grad_norm"])
    return np.array(per_seed)


def build_report(runs, profile):
    groups = plots.group_runs(runs)
    first = runs[0]["config"]
    num_classes = first["model_kwargs"]["num_classes"]
    chance = 1 - 1 / num_classes
    threshold = chance - CONVERGED_BELOW_CHANCE
    seeds = sorted({run["config"]["seed"] for run in runs})
    get = lambda figure, init: groups.get(f"{figure}_{init}", [])

    errors = lambda figure, init: plots.final_test_errors(get(figure, init))
    he3, xavier3 = errors("fig3", "he"), errors("fig3", "xavier")
    he2, xavier2 = errors("fig2", "he"), errors("fig2", "xavier")
    he2_steps = _steps_to_reach(get("fig2", "he"), threshold)
    xavier2_steps = _steps_to_reach(get("fig2", "xavier"), threshold)
    budget = first["steps"]
    beyond = lambda steps: [budget + 1 if s is None else s for s in steps]
    grads_he, grads_xavier = _gradient_norms(get("fig3", "he")), _gradient_norms(get("fig3", "xavier"))
    gradient_ratio = None
    if grads_he.size and grads_xavier.size:
        # Geometric mean over seeds, first (stem) layer and last layer.
        gradient_ratio = {
            "stem": float(np.exp(np.mean(np.log(grads_xavier[:, 0])) - np.mean(np.log(grads_he[:, 0])))),
            "logits": float(np.exp(np.mean(np.log(grads_xavier[:, -1])) - np.mean(np.log(grads_he[:, -1])))),
        }

    claims = [
        {"id": "fig3_xavier_stalls",
         "criterion": f"30 layers, Xavier (Var=1/fan_in): final test error >= chance - "
                      f"{STALLED_WITHIN_CHANCE:g} (chance = {chance:.4f}) on every seed",
         "measured": {"final_test_error": plots.seed_summary(xavier3), "chance": chance,
                      "init_gradient_norm_xavier_over_he": gradient_ratio},
         "holds": bool(xavier3) and bool(_stalled(xavier3, chance))},
        {"id": "fig3_he_converges",
         "criterion": f"30 layers, He (fan_in): final test error <= chance - "
                      f"{CONVERGED_BELOW_CHANCE:g} = {threshold:.4f} on every seed, no divergence",
         "measured": {"final_test_error": plots.seed_summary(he3), "chance": chance},
         "holds": bool(he3) and bool(_converged(he3, chance))},
        {"id": "fig2_both_converge",
         "criterion": f"22 layers: He and Xavier both reach final test error <= {threshold:.4f} "
                      "on every seed, no divergence",
         "measured": {"he_final_test_error": plots.seed_summary(he2),
                      "xavier_final_test_error": plots.seed_summary(xavier2),
                      "chance": chance},
         "holds": bool(he2) and bool(xavier2) and bool(_converged(he2, chance))
                  and bool(_converged(xavier2, chance))},
        {"id": "fig2_he_earlier",
         "criterion": f"22 layers: mean over seeds of the first evaluated step with test error <= "
                      f"{threshold:.4f} is smaller for He than for Xavier (never reached = "
                      f"budget + 1 = {budget + 1})",
         "measured": {"he_steps": he2_steps, "xavier_steps": xavier2_steps,
                      "he_mean": float(np.mean(beyond(he2_steps))) if he2_steps else None,
                      "xavier_mean": float(np.mean(beyond(xavier2_steps))) if xavier2_steps else None},
         "holds": bool(he2_steps) and bool(xavier2_steps) and any(s is not None for s in he2_steps)
                  and bool(np.mean(beyond(he2_steps)) < np.mean(beyond(xavier2_steps)))},
    ]
    per_init = {
        figure: {name: {"label": label, "final_test_error": plots.seed_summary(errors(figure, name)),
                        "diverged": sum(r["final"]["status"] == "diverged" for r in get(figure, name))}
                 for name, label, _ in he_config.INITIALIZERS}
        for figure in he_config.FIGURES
    }
    learning_rates = {figure: get(figure, "he")[0]["config"]["learning_rate"]
                      for figure in he_config.FIGURES if get(figure, "he")}
    return {
        "paper": "he2015",
        "profile": profile,
        "seeds": seeds,
        "dataset": first["dataset"],
        "budget": {"steps": budget, "batch_size": first["batch_size"], "learning_rate": learning_rates,
                   "optimizer": f"{first['optimizer']} {first['momentum']}",
                   "width_multiplier": first["model_kwargs"]["width_multiplier"]},
        "claims": claims,
        "final_test_error_by_initializer": per_init,
    }


def _percent(value):
    return "-" if value is None else f"{100 * value:.1f}"


def report_markdown(report):
    lines = [f"# He et al. 2015, Figs. 2-3: claims ({report['profile']} profile)", "",
             f"Dataset {report['dataset']}, seeds {report['seeds']}, {report['budget']['steps']} updates "
             f"of batch {report['budget']['batch_size']}, {report['budget']['optimizer']}, "
             f"learning rates {report['budget']['learning_rate']}, width x{report['budget']['width_multiplier']:g}.",
             "", "| claim | criterion | measured | holds |", "|---|---|---|---|"]
    for claim in report["claims"]:
        measured = json.dumps(claim["measured"], default=str).replace("|", "/")
        lines.append(f"| `{claim['id']}` | {claim['criterion']} | {measured} | "
                     f"{'yes' if claim['holds'] else '**no**'} |")
    for figure, depth in he_config.FIGURES.items():
        lines += ["", f"Final test error (%) after the budget, {depth} layers ({figure}):", "",
                  "| initializer | mean | std | per seed | diverged |", "|---|---|---|---|---|"]
        for name, row in report["final_test_error_by_initializer"][figure].items():
            error = row["final_test_error"]
            per_seed = ", ".join(_percent(v) for v in error["per_seed"])
            lines.append(f"| {row['label']} | {_percent(error['mean'])} | {_percent(error['std'])} | "
                         f"{per_seed} | {row['diverged']} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures


def plot_gradients(runs, path):
    """Per-layer kernel-gradient norm, 30 layers, He vs Xavier: at init and at the end."""
    plt = plots.pyplot()
    groups = plots.group_runs(runs)
    figure, axes = plt.subplots(1, 2, figsize=(10.4, 4.0), sharey=True)
    final_step = runs[0]["config"]["steps"]
    for axis, step, title in ((axes[0], 0, "at initialization"), (axes[1], final_step, f"after {final_step} updates")):
        for name, colour in (("fig3_he", "tab:blue"), ("fig3_xavier", "tab:red")):
            norms = _gradient_norms(groups.get(name, []), step)
            if not norms.size:
                continue
            layers = np.arange(1, norms.shape[1] + 1)
            label = groups[name][0]["config"]["label"]
            for seed_norms in norms:
                axis.plot(layers, seed_norms, color=colour, alpha=0.35, lw=0.8)
            # Geometric mean over the seeds with a non-zero norm; a layer whose
            # gradient is zero on every seed (dead ReLUs) is left out (log scale).
            alive = norms > 0
            log_sum = np.where(alive, np.log(np.where(alive, norms, 1.0)), 0.0).sum(axis=0)
            count = alive.sum(axis=0)
            geometric_mean = np.full(norms.shape[1], np.nan)
            geometric_mean[count > 0] = np.exp(log_sum[count > 0] / count[count > 0])
            axis.plot(layers, geometric_mean, color=colour, lw=1.8, label=f"{label} (n={len(norms)})")
        axis.set_yscale("log")
        axis.set_xlabel("weight layer (1 = stem conv, 30 = logits)")
        axis.set_title(title)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("||d loss / d kernel|| (fixed batch)")
    axes[0].legend(fontsize=8)
    figure.suptitle("30-layer plain net: per-layer gradient norms (thin: seeds, thick: geometric mean)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=plots.DPI)
    plt.close(figure)


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the loaded runs."""
    workdir = pathlib.Path(workdir)
    per_epoch = he_config.steps_per_epoch(profile)
    x_label = "epochs" if per_epoch else "training steps (updates)"
    first = runs[0]["config"]
    for figure, depth in he_config.FIGURES.items():
        names = [f"{figure}_{name}" for name, _, _ in he_config.INITIALIZERS]
        selected = [r for r in runs if r["config"]["name"] in names]
        if not selected:
            continue
        lr = selected[0]["config"]["learning_rate"]
        title = (f"He et al. 2015 Fig. {figure[-1]}: {depth}-layer plain ReLU net (no BN), {first['dataset']}, "
                 f"width x{first['model_kwargs']['width_multiplier']:g}, SGD momentum lr {lr:g}")
        plots.plot_error_curves(selected, workdir / f"{figure}_{depth}layer.png", title, names,
                                x_label=x_label, steps_per_x_unit=per_epoch or 1.0)
    plot_gradients(runs, workdir / "gradients_30layer.png")
    report = build_report(runs, profile)
    write_json_atomic(workdir / "report.json", report)
    text = report_markdown(report)
    (workdir / "report.md").write_text(text)
    return text


def lr_search_markdown(runs):
    """Validation error per learning rate and figure, averaged over initializers; the pick."""
    lines = ["# Learning-rate search (validation set)", "",
             "Rule: per figure, the rate with the lowest validation error averaged over all "
             "initializers (diverged = 1.0).", ""]
    table = {}
    for run in runs:
        rate, figure = run["config"]["learning_rate"], run["config"]["name"].split("_")[1]
        error = run["final"]["final"]["test_error"] if run["final"]["status"] == "completed" else 1.0
        init = run["config"]["name"].split("_", 2)[2]
        table.setdefault(figure, {}).setdefault(rate, {})[init] = error
    for figure, by_rate in sorted(table.items()):
        inits = [name for name, _, _ in he_config.INITIALIZERS]
        lines += [f"## {figure} ({he_config.FIGURES[figure]} layers)", "",
                  "| lr | " + " | ".join(inits) + " | mean |", "|---" * (len(inits) + 2) + "|"]
        means = {}
        for rate, errors in sorted(by_rate.items()):
            means[rate] = float(np.mean([errors.get(i, 1.0) for i in inits]))
            lines.append(f"| {rate:g} | " + " | ".join(_percent(errors.get(i)) for i in inits)
                         + f" | {_percent(means[rate])} |")
        best = min(means, key=means.get)
        lines += ["", f"Chosen for {figure}: lr = {best:g}", ""]
    return "\n".join(lines)


def main(argv=None):
    cli.run_driver(argv, __doc__, he_config, "workdirs/he2015", redraw,
                   callbacks_for=_gradient_callbacks, search_report=lr_search_markdown)


if __name__ == "__main__":
    main()
