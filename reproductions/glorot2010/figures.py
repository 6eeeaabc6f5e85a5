"""Glorot & Bengio 2010 figures, drawn from the run folders and the at-initialization
measurements: Figs. 2-4 (training statistics), 6-8 (at initialization), 11-12 (error)."""

import pathlib

from initializers.diagnostics.plots import plot_layer_histograms, plot_training_statistics
from reproductions import plots
from reproductions.configs import glorot2010 as glorot_config
from reproductions.glorot2010.measure import records
from reproductions.runs import select


def _first_seed(group):
    return min(group, key=lambda run: run["config"]["seed"]) if group else None


def draw_error_curves(workdir, configs, runs, datasets):
    """Fig. 11 (first dataset) and Fig. 12 (one per further dataset): test and training
    error of every activation x init, mean and min-max band over seeds."""
    for index, dataset in enumerate(datasets):
        names = [config.name for config in configs if config.dataset == dataset]
        first = next(run["config"] for run in runs if run["config"]["dataset"] == dataset)
        filename = "fig11_test_error.png" if index == 0 else f"fig12_test_error_{dataset}.png"
        plots.plot_error_curves(
            [run for run in runs if run["config"]["name"] in names], pathlib.Path(workdir) / filename,
            f"Glorot & Bengio Fig. {11 if index == 0 else 12}: {dataset}, {glorot_config.DEPTH} hidden layers "
            f"of {first['model_kwargs']['width']}, SGD batch {first['batch_size']}", names)


def draw_training_figures(workdir, runs, dataset):
    """Figs. 2-4 from the first seed's `activations.jsonl` of the relevant runs."""
    workdir = pathlib.Path(workdir)
    hidden = [f"hidden{i + 1}" for i in range(glorot_config.DEPTH)]
    sigmoid = _first_seed(select(runs, dataset=dataset, activation="sigmoid", init="standard"))
    if sigmoid and records(sigmoid):
        config = sigmoid["config"]
        plot_training_statistics(
            {f"sigmoid, standard init, seed {config['seed']}": records(sigmoid)}, ("mean", "std"),
            errorbar=True, path=workdir / "fig2_sigmoid_activations.png", layers=hidden,
            title=f"Glorot & Bengio Fig. 2: sigmoid activations, mean +- std over 300 test examples\n"
                  f"{dataset}, width {config['model_kwargs']['width']}, lr {config['learning_rate']:g}")
    saturating = {}
    for activation in ("tanh", "softsign"):
        run = _first_seed(select(runs, dataset=dataset, activation=activation, init="standard"))
        if run and records(run):
            saturating[f"{activation}, standard init, seed {run['config']['seed']}"] = records(run)
    if saturating:
        plot_training_statistics(
            saturating, ("p98", "std"), errorbar=False, path=workdir / "fig3_saturation.png", layers=hidden,
            title="Glorot & Bengio Fig. 3: 98th percentile (solid, dots) and std (dashed) of each "
                  f"layer's activations over training; {dataset}")
        final = {f"{title}, after {run_records[-1]['step']:,} updates": run_records[-1]["layers"]
                 for title, run_records in saturating.items()}
        plot_layer_histograms(final, path=workdir / "fig4_final_histograms.png",
                              xlabel="activation value", layers=hidden,
                              title="Glorot & Bengio Fig. 4: activation histograms at the end of "
                                    f"training; {dataset}")


def draw_init_figures(workdir, measurements):
    """Figs. 6-8 from `init/`, first seed."""
    workdir = pathlib.Path(workdir)
    if not measurements.get("standard") or not measurements.get("normalized"):
        return
    pairs = {init: measurements[init][0] for init in ("standard", "normalized")}
    config = pairs["standard"]["config"]
    where = (f"tanh, width {config['width']}, {config['examples']} test examples ({config['dataset']}), "
             f"seed {config['seed']}")
    hidden = [f"hidden{i + 1}" for i in range(config["depth"])]
    labels = {"standard": "standard init U(+-1/sqrt(n))", "normalized": "normalized init (Glorot)"}
    for key, filename, xlabel, title in (
            ("activations", "fig6_activations_at_init.png", "activation value",
             "Fig. 6: activation histograms at initialization"),
            ("backprop", "fig7_backprop_gradients_at_init.png", "d loss / d h (back-propagated gradient)",
             "Fig. 7: back-propagated gradient histograms at initialization"),
            ("weights", "fig8_weight_gradients_at_init.png", "d loss / d W (weight gradient)",
             "Fig. 8: weight-gradient histograms at initialization")):
        panels = {}
        for init, measurement in pairs.items():
            stds = ", ".join(f"{r['std']:.2g}" for r in measurement[key] if r["layer"] != "logits")
            panels[f"{labels[init]}\nstd per layer: {stds}"] = measurement[key]
        plot_layer_histograms(panels, path=workdir / filename, xlabel=xlabel, layers=hidden,
                              log_y=key != "activations", title=f"Glorot & Bengio {title}; {where}")
