"""What the Glorot & Bengio 2010 driver measures beside the harness's error curves.

* At initialization (`prepare`, before the sweep): tanh nets at full width, standard
  vs normalized init, one JSON per (init, seed) in `<workdir>/init/`: activation,
  back-propagated and weight-gradient statistics (Figs. 6-8) and the Jacobian
  singular values (Sec. 4.2.2).
* During training (`recorder_callbacks`): per-layer statistics of activations and
  gradients on the paper's 300 fixed test examples, at step 0 and at every
  evaluation (`<run>/activations.jsonl`, Figs. 2-4).
"""

import pathlib
import sys

import models
from initializers import diagnostics, initialize_weights
from initializers.jsonio import read_json, write_json_atomic
from reproductions import data, driver
from reproductions.configs import glorot2010 as glorot_config

# Figs. 6-8 and the Jacobian numbers: tanh at initialization, standard vs normalized.
INIT_SETTINGS = (("standard", "standard_uniform"), ("normalized", "glorot_uniform"))
INIT_ACTIVATION = "tanh"
JACOBIAN_EXAMPLES = 16  # examples averaged per layer (each a width x width eigenproblem)
HISTOGRAM_BINS = 50
# Histogram ranges of the recorded activations (the activation's image).
ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0)}


def diagnostics_batch(dataset, data_dir=None):
    """The fixed 300 test examples (flattened) and labels the paper's statistics use."""
    return data.as_numpy(data.load(dataset, "test", glorot_config.DIAGNOSTICS_EXAMPLES,
                                   num_examples=glorot_config.DIAGNOSTICS_EXAMPLES, flatten=True,
                                   data_dir=data_dir))


def init_setting(profile, dataset, init, seed):
    """What one at-initialization measurement is (its JSON's `config`)."""
    return {"dataset": dataset, "activation": INIT_ACTIVATION, "init": init,
            "initializer": dict(INIT_SETTINGS)[init], "depth": glorot_config.DEPTH,
            "width": glorot_config.PROFILES[profile]["init_width"], "seed": seed,
            "examples": glorot_config.DIAGNOSTICS_EXAMPLES, "bins": HISTOGRAM_BINS,
            "jacobian_examples": JACOBIAN_EXAMPLES}


def measure_at_init(setting, batch):
    """Activation, back-propagated and weight-gradient statistics and Jacobian singular
    values of a freshly initialized `DeepMLP` (no training)."""
    inputs, labels = batch
    model = models.DeepMLP(inputs.shape[1], data.num_classes(setting["dataset"]), depth=setting["depth"],
                           width=setting["width"], activation=setting["activation"])
    initialize_weights(model, setting["initializer"], seed=setting["seed"])
    backprop, weights = diagnostics.gradient_statistics(model, inputs, labels, bins=setting["bins"])
    return {
        "config": setting,
        "activations": diagnostics.activation_statistics(
            model, inputs, bins=setting["bins"], value_range=ACTIVATION_RANGES[setting["activation"]]),
        "backprop": backprop,
        "weights": weights,
        "jacobian": diagnostics.jacobian_singular_values(model, inputs,
                                                         max_examples=setting["jacobian_examples"]),
    }


def init_seeds(profile, seeds=()):
    """The draws measured at initialization: the profile's `init_draws` seeds 0, 1, ...
    (cheap: >= 10 in the quick profile, so the claims at init have a spread), plus any
    training seed beyond them."""
    return tuple(sorted(set(range(glorot_config.PROFILES[profile].get("init_draws", 0))) | set(seeds)))


def prepare(workdir, profile, configs, seeds):
    """Figs. 6-8 measurements at initialization, one JSON per (init, seed) in `init/`
    for `init_seeds`; a file already holding the same setting is kept (resume)."""
    if profile == "lr_search":
        return
    dataset, data_dir = configs[0].dataset, configs[0].data_dir
    folder = pathlib.Path(workdir) / "init"
    folder.mkdir(parents=True, exist_ok=True)
    batch = None
    for seed in init_seeds(profile, seeds):
        for init, _ in INIT_SETTINGS:
            setting = init_setting(profile, dataset, init, seed)
            path = folder / f"{INIT_ACTIVATION}_{init}-seed{seed}.json"
            if path.exists() and read_json(path)["config"] == setting:
                continue
            batch = batch or diagnostics_batch(dataset, data_dir)
            print(f"at initialization: {INIT_ACTIVATION}, {init}, width {setting['width']}, seed {seed}",
                  file=sys.stderr, flush=True)
            write_json_atomic(path, measure_at_init(setting, batch))


def load_init_measurements(workdir, profile, dataset, seeds=None):
    """{init: [measurement per seed, by seed]} from `init/`: those of `dataset` at the
    profile's width (and of `seeds`, if given)."""
    found = {}
    width = glorot_config.PROFILES[profile]["init_width"]
    for path in sorted((pathlib.Path(workdir) / "init").glob("*.json")):
        measurement = read_json(path)
        setting = measurement["config"]
        if (setting["dataset"], setting["width"]) != (dataset, width) or (
                seeds is not None and setting["seed"] not in seeds):
            continue
        found.setdefault(setting["init"], []).append(measurement)
    return {init: sorted(items, key=lambda m: m["config"]["seed"]) for init, items in found.items()}


def _recorders(config, batch, run_dir, tensorboard):
    inputs, labels = batch
    activation = config.model_kwargs["activation"]
    return [diagnostics.ActivationStatsRecorder(
        inputs, run_dir / "activations.jsonl", every=config.eval_every, bins=HISTOGRAM_BINS,
        value_range=ACTIVATION_RANGES.get(activation), labels=labels,
        tensorboard_dir=run_dir / "tensorboard" / "diagnostics" if tensorboard else None)]


# `(workdir, tensorboard) -> (config -> [ActivationStatsRecorder])`: statistics of
# activations and gradients on the 300 fixed test examples at step 0 and at every
# evaluation; with `tensorboard`, also as histograms in `<run>/tensorboard/diagnostics`.
recorder_callbacks = driver.FixedBatchCallbacks(diagnostics_batch, _recorders)


def records(run):
    """The recorder's records of a run (empty if it has none)."""
    path = run["dir"] / "activations.jsonl"
    return diagnostics.read_records(path) if path.exists() else []
