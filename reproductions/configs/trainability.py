"""Depth x initialization trainability maps: where each initialization stops training.

He et al. 2015 (Figs. 2-3) and Glorot & Bengio 2010 look at two or three depths; whether
an init "works" depends on depth, width, learning rate and budget. These maps answer
their question over a depth grid, in a fixed budget, with mean-field theory
(Schoenholz et al. 2017, "Deep Information Propagation") drawn on top.

Figures (written into the workdir):
* `map1_test_error.png` (Map 1, ReLU, He's question): final test error over depth x
  initializer for the plain nets of `models.PlainNet` (the 22- and 30-layer columns are
  exactly the He 2015 reproduction's nets; other depths spread 3x3 convolutions over the
  same three stages), mean over seeds, cells marked where every seed trained. Expected
  (He et al., Fig. 3): He trains deeper than Xavier (Var = 1/n), whose signal shrinks
  by 1/sqrt(2) per ReLU layer.
* `map1_leave_chance.png`: updates until the test error first leaves chance (<= chance -
  10 points) per depth, per init, median and min-max over seeds.
* `map2_accuracy.png` (Map 2, tanh, Glorot's and Schoenholz's question): final test
  accuracy of deep tanh MLPs over (sigma_w^2, depth) at sigma_b^2 = 0.05, with W ~
  N(0, sigma_w^2 / n) and b ~ N(0, sigma_b^2), the theory curves 3 xi_c and 6 xi_c
  (`initializers.diagnostics.mean_field.correlation_depth`) and the critical
  sigma_w^2 (about 1.76) marked. Expected (Schoenholz et al.): trainable iff depth is
  below about 6 xi_c, deepest at the critical point.

Claims (`report.json` / `report.md`; criteria below, fixed before the runs): He trains
deeper than Xavier, LSUV as deep as He, the measured Xavier stall depth,
trainability tracks xi_c (agreement fraction and best-fitting constant), and the
critical init trains deepest.

Setting. Map 1: `PlainNet` at width 1/32 on offline Shapeset-location (as the He quick
profile; the faithful and full profiles change width and stem), SGD momentum 0.9, batch 64, biases 0, seven initializers (`MAP1_INITIALIZERS`),
one learning rate per depth shared by all of them (`lr_search` below). Map 2: `DeepMLP`
(tanh, width `map2_width`, the logits layer drawn like the hidden ones) on flattened
Shapeset-location, plain SGD, batch 64, one learning rate for every cell (`lr_search`).
Both: no XLA (`jit_compile=False`: on 2 CPU cores the compile time of these small nets
outweighs its gain; measured 16.0 s vs 20.4 s for 600 updates of the 30-layer net).

Profiles:
* `smoke`: seconds per run; tests only.
* `quick` (default): map 1 at depths 8, 14, 22, 30, 600 updates; map 2 at sigma_w^2 in
  {1.0, 1.4, 1.76, 2.5, 4.0} x depth {10, 25, 50, 100}, width 64, 400 updates; 3 seeds;
  84 + 60 runs (committed: `results/trainability/quick/`, runs at clean commit f2e2512;
  the estimate before the run was about 15 min). Fidelity of map 1's nets
  (`results/trainability/quick/fidelity.md`): forward gains 0.71x and 0.25x of the
  paper-size net's at 8 and 14 layers, 0.029x and 0.00076x at 22 and 30.
* `lr_search`: the search that picked the quick profile's learning rates, scored on the
  validation set, one seed (100), grids `LR_GRID`. Rules, fixed before looking: map 1,
  per depth, the rate with the lowest validation error averaged over all seven
  initializers (diverged = 1.0); map 2, the rate with the lowest validation error
  averaged over all cells. Result: 3e-3 at every depth (at 30 layers only LSUV and
  orthogonal left chance at either rate), 1e-2 for map 2; `results/trainability/lr_search.md`.
* `faithful`: map 1 on the He reproduction's faithful net (width 1/16, stride-1 stem
  without pooling: `models.PlainNet(stem="small_images")`, whose gains at initialization
  are within 10x of the paper-size net's; `results/he2015/fidelity_search.md`; at
  map 1's depths 8-30 within 3.7x, measured with `python -m reproductions.fidelity
  --experiment trainability --profile faithful`), map 2 as in quick; 600 updates,
  learning rates of the quick search (not re-searched), 3 seeds, every depth of the
  quick grid (84 + 60 runs; estimated at about 1.5 h before the run, which came in
  under the hour: nothing cut). Committed: `results/trainability/faithful/` (runs at
  clean commit 1e81605). The quick map 1 answers "where does each init stop training in
  a fast miniature that loses more signal than the paper's nets"; this one, the same
  question for nets that lose what the paper's lose.
* `full` (GPU): map 1 at width 1/4 with the stride-1 stem (as the faithful net) up to
  46 layers, 3,000 updates; map 2 at width 256,
  depths up to 200, nine sigma_w^2 values, 1,000 updates. Learning rates: the quick
  search's (not re-searched). Not run yet (no GPU has been lent).

Runtimes: `MEASURED_RUNTIMES` below (the driver prints the profile's when it starts).

Command: `bash scripts/reproduce_trainability.sh [--profile quick|faithful|full|smoke|lr_search]`
"""

import math

from reproductions import data
from reproductions.configs import plain_net_kwargs
from reproductions.run_config import RunConfig

# Measured wall times of whole profiles (the driver prints the one it runs). Machines of
# one kind differ by up to 2x.
MEASURED_RUNTIMES = {
    "quick": "9 min 47 s with --jobs 2 on a 2-core CPU, TensorFlow (results/trainability/quick/)",
    "faithful": "51 min 30 s with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow, with development work "
                "sharing the CPU (results/trainability/faithful/); map 1's runs 22-112 s each, map 2's 2-10 s",
    "lr_search": "6 min 20 s with --jobs 2 on a 2-core CPU, TensorFlow (results/trainability/lr_search.md)",
}

# (key, legend label, initializer identifier)
MAP1_INITIALIZERS = (
    ("he", "He, fan_in (ours: untruncated)", "he_normal"),
    ("xavier", "Xavier as He et al. restate it: Var=1/fan_in", "lecun_normal"),
    ("glorot", "Glorot normalized (ours)", "glorot_uniform"),
    ("keras_he_normal", "keras.HeNormal (truncated)", "keras.HeNormal"),
    ("keras_glorot_uniform", "keras.GlorotUniform (Keras default)", "keras.GlorotUniform"),
    ("orthogonal", "Orthogonal, gain sqrt(2)", {"class_name": "Orthogonal", "config": {"gain": math.sqrt(2)}}),
    ("lsuv", "LSUV (Mishkin & Matas 2016)", "lsuv"),
)
SIGMA_B2 = 0.05

# Claim criteria, fixed before the runs.
TRAINED_BELOW_CHANCE = 0.10    # a run trained: final test error <= chance - 0.10
LEFT_CHANCE_BELOW = 0.10       # "left chance": first evaluation with test error <= chance - 0.10
XI_MULTIPLIERS = (3, 6)        # theory curves c * xi_c drawn on map 2
SCHOENHOLZ_MULTIPLIER = 6      # trainable iff depth < 6 xi_c (Schoenholz et al. 2017)
AGREEMENT_REQUIRED = 0.75      # trainable_depth_tracks_xi_c holds at this fraction of cells
FIT_MULTIPLIERS = tuple(m / 2 for m in range(2, 25))  # 1.0, 1.5, ..., 12.0 for the best fit

LR_GRID = {"map1": (1e-3, 3e-3), "map2": (3e-3, 1e-2)}
# Picked by the lr_search profile (results/trainability/lr_search.md; 96 runs, clean
# commit 5f16e66).
QUICK_LEARNING_RATES = {"map1": {8: 3e-3, 14: 3e-3, 22: 3e-3, 30: 3e-3}, "map2": 1e-2}

_QUICK = dict(
    dataset="shapeset_location", seeds=(0, 1, 2), batch_size=64, eval_examples=512,
    map1_depths=(8, 14, 22, 30), map1_width_multiplier=1 / 32, map1_stem="paper", map1_steps=600,
    map1_eval_every=100,
    map2_sigma_w2=(1.0, 1.4, 1.76, 2.5, 4.0), map2_depths=(10, 25, 50, 100), map2_width=64,
    map2_steps=400, map2_eval_every=100, steps_per_execution=10,
    learning_rate=QUICK_LEARNING_RATES,
)
PROFILES = {
    "quick": _QUICK,
    "lr_search": {**_QUICK, "seeds": (100,), "learning_rate": None, "eval_split": "validation"},
    "smoke": {**_QUICK, "seeds": (0,), "batch_size": 16, "eval_examples": 32, "map1_depths": (7, 8),
              "map1_steps": 20, "map1_eval_every": 10, "map2_sigma_w2": (1.0, 1.76, 4.0),
              "map2_depths": (2, 4), "map2_width": 16, "map2_steps": 20, "map2_eval_every": 10,
              "steps_per_execution": 5, "fidelity_draws": 1,
              "learning_rate": {"map1": {7: 1e-3, 8: 1e-3}, "map2": 3e-3}},
    # Map 1 on the He reproduction's faithful net (width 1/16, stride-1 stem, no stem pooling;
    # reproductions/configs/he2015.py), map 2 as in quick.
    "faithful": {**_QUICK, "map1_width_multiplier": 1 / 16, "map1_stem": "small_images"},
    "full": {**_QUICK, "map1_depths": (8, 14, 22, 30, 38, 46), "map1_width_multiplier": 1 / 4,
             "map1_stem": "small_images",
             "map1_steps": 3000, "map1_eval_every": 250, "eval_examples": 2000,
             "map2_sigma_w2": (1.0, 1.25, 1.5, 1.76, 2.0, 2.5, 3.0, 3.5, 4.0),
             "map2_depths": (10, 25, 50, 100, 150, 200), "map2_width": 256, "map2_steps": 1000,
             "map2_eval_every": 100,
             "learning_rate": {  # the quick search's; 38 and 46 layers take the 30-layer rate
                 "map1": {**QUICK_LEARNING_RATES["map1"], 38: QUICK_LEARNING_RATES["map1"][30],
                          46: QUICK_LEARNING_RATES["map1"][30]},
                 "map2": QUICK_LEARNING_RATES["map2"]}},
}
DEFAULT_PROFILE = "quick"


def map2_initializers(sigma_w2):
    """(kernel, bias) identifiers of mean-field theory's net: W ~ N(0, sigma_w^2 / fan_in)
    untruncated, b ~ N(0, sigma_b^2)."""
    kernel = {"class_name": "keras.VarianceScaling",
              "config": {"scale": sigma_w2, "mode": "fan_in", "distribution": "untruncated_normal"}}
    bias = {"class_name": "keras.RandomNormal", "config": {"stddev": math.sqrt(SIGMA_B2)}}
    return kernel, bias


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides the profile's."""
    settings = PROFILES[profile]
    dataset = dataset or settings["dataset"]
    rates = settings["learning_rate"]
    if rates is None and profile != "lr_search":
        raise ValueError("QUICK_LEARNING_RATES is not set: run the lr_search profile first and copy "
                         f"its picks. Received: profile={profile!r}")
    shared = dict(dataset=dataset, batch_size=settings["batch_size"], eval_examples=settings["eval_examples"],
                  eval_split=settings.get("eval_split", "test"), jit_compile=False,
                  steps_per_execution=settings["steps_per_execution"], data_dir=data_dir)
    height, width, channels = data.input_shape(dataset)
    configs = []
    for depth in settings["map1_depths"]:
        for rate in LR_GRID["map1"] if rates is None else (rates["map1"][depth],):
            prefix = f"lr{rate:g}_" if rates is None else ""
            for key, label, identifier in MAP1_INITIALIZERS:
                configs.append(RunConfig(
                    name=f"{prefix}map1_d{depth}_{key}", label=label,
                    tags={"map": "relu", "depth": depth, "init": key},
                    model="plain_net", model_kwargs=plain_net_kwargs(
                        depth, settings["map1_width_multiplier"], settings["map1_stem"], dataset),
                    initializer=identifier, optimizer="momentum", momentum=0.9, learning_rate=rate,
                    steps=settings["map1_steps"], eval_every=settings["map1_eval_every"], **shared))
    for sigma_w2 in settings["map2_sigma_w2"]:
        kernel, bias = map2_initializers(sigma_w2)
        for depth in settings["map2_depths"]:
            for rate in LR_GRID["map2"] if rates is None else (rates["map2"],):
                prefix = f"lr{rate:g}_" if rates is None else ""
                configs.append(RunConfig(
                    name=f"{prefix}map2_sw{sigma_w2:g}_d{depth}", label=f"sigma_w^2 = {sigma_w2:g}",
                    tags={"map": "tanh", "depth": depth, "sigma_w2": sigma_w2, "sigma_b2": SIGMA_B2},
                    model="deep_mlp", model_kwargs=dict(
                        input_dim=height * width * channels, num_classes=data.num_classes(dataset),
                        depth=depth, width=settings["map2_width"], activation="tanh"),
                    initializer=kernel, bias_initializer=bias, flatten=True, optimizer="sgd",
                    learning_rate=rate, steps=settings["map2_steps"],
                    eval_every=settings["map2_eval_every"], **shared))
    return configs, list(settings["seeds"])
