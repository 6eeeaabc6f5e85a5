"""Learned initialization: GradInit and MetaInit against He's rule, on the net He's rule was
made for and on a residual net without normalization.

Papers: Zhu, Ni, Xu, Kong, Huang & Goldstein, "GradInit: Learning to Initialize Neural
Networks for Stable and Efficient Training", NeurIPS 2021 (reference code
`zhuchen03/gradinit`); Dauphin & Schoenholz, "MetaInit: Initializing learning by learning to
initialize", NeurIPS 2019. Both learn one scale per weight tensor on a few batches
(`initializers.gradinit`, `initializers.metainit`). GradInit reports VGG without BatchNorm
and ResNets without normalization trained from its init; MetaInit reports that it recovers
deep plain and residual nets from badly scaled inits.

Figures (written into the workdir):
* `plain30_curves.png`: He et al. 2015's Fig. 3 setting, the faithful 30-layer plain ReLU
  net (`models.PlainNet`, the He 2015 driver's faithful profile: width 1/16, stride-1 stem,
  Shapeset-location, SGD momentum 0.9, lr 1e-3, batch 64, 1,000 updates), where Xavier's init
  (Var = 1/fan_in) stalls at chance: test error per update for Xavier, Xavier + GradInit,
  Xavier + MetaInit, Xavier + LSUV and He. Expected: the learned inits and LSUV train, as
  He does; Xavier stays at chance.
* `residual_curves.png`: a residual CNN without normalization (`models.ResidualCNN`, the
  Fixup driver's quick net) at 100 layers, where He's init diverges (the Fixup quick
  results): the same rows plus Fixup, on Fashion-MNIST, SGD momentum 0.9 at lr 3e-3 (the
  Fixup driver's), batch 32, 100 updates.
* `learned_factors.png`: what they learn on the plain net: the factor per layer (norm
  after / norm drawn) against depth, per seed, beside what He's rule is relative to
  Xavier's, sqrt(2) per ReLU layer. Tabled in the report. On the residual net the
  blocks' kernels are stacked (one variable per kernel position for all blocks, scanned):
  one factor per position, shared by all blocks, is what the methods can learn there.

Rows: `xavier` (`lecun_normal`: He et al.'s "Xavier", Var = 1/fan_in, untruncated),
`gradinit` and `metainit` (Xavier, then the method: `{"class_name": "gradinit", "config":
{"base": "lecun_normal", ...}}`; MetaInit on its paper's random data), `metainit_data` (plain
net only: MetaInit on the run's first 64 training batches instead; added after the first
quick runs, see the claims), `lsuv` (Mishkin & Matas 2016, from its own orthonormal
draw), `he` (He et al. 2015, untruncated, fan_in) and, on the residual net, `fixup`.

GradInit's settings are the reference scripts' for nets without normalization (`launch/
run_gradinit.sh`: eta = the training's learning rate, normalized SGD step, gamma = 1,
min scale 0.01, clip 1, Adam on the scales at 1e-2) with 200 iterations (theirs: 390, one
CIFAR-10 epoch); the batches come from the run's first 64 training batches. MetaInit's are
its paper's code's (signSGD on the norms, lr 0.1, momentum 0.9, epsilon 1e-5, N(0, 1) inputs
and random labels) with 100 iterations (theirs: 500) on the plain net and 50 on the
residual net.

Claims (criteria fixed before the quick runs; >= 3 seeds; each reports its margin):
* `xavier_stalls_plain30`: the baseline: Xavier's final test error >= chance - 0.02 on
  every seed (the He 2015 driver's criterion).
* `gradinit_trains_plain30`, `metainit_trains_plain30`, `lsuv_trains_plain30`: final test
  error <= chance - 0.1 on every seed, no divergence (the He 2015 driver's "converges").
* `learned_raise_hidden_scales`: both learned inits end with every convolution's factor
  > 1 on every seed (they move towards He's sqrt(2), away from Xavier's stall). Set after
  a pilot on seed 0 (in the session that wrote this driver), which showed it for both.
* `metainit_data_trains_plain30`: the same criterion for MetaInit on training batches.
  Added after the first quick sweep (33 runs) had shown MetaInit on random data stalling on
  every seed, and after a pilot of it on seed 0 (24.2% test error after 1,000 updates,
  leaving chance only at ~900): not a blind test; the same threshold as the others.
* `gradinit_trains_residual100`, `metainit_trains_residual100`: final test error <= chance
  - 0.1 on every seed on the 100-layer residual net; `he_fails_residual100`: He diverges
  or ends > chance - 0.1 there on every seed (the Fixup quick results: diverged).

Profiles:
* `quick` (default): 36 runs (6 rows x 3 seeds on the plain net, 6 rows x 3 seeds on the
  residual net), committed: `results/learned_init/quick/`. Runtime: `MEASURED_RUNTIMES`:
  about 33 min on a 2-core CPU, over the 30 min its issue asked for: the rows it asked for
  took 24.5 min, the MetaInit-on-training-batches row added after them 8.5 min (a MetaInit
  run costs ~4.4 min: its third derivative runs eagerly under TensorFlow).
* `smoke`: tiny nets, a few updates (tests only).
* `full` (GPU): the same rows at the He 2015 driver's full net (width 1/4, CIFAR-10
  through TFDS, 30 epochs) and the residual net at 1,000 layers (Fixup full settings);
  GradInit 390 iterations, MetaInit 500. Not run yet (no GPU lent), and not in
  `scripts/check_accelerator.sh`'s projection (its two nets are the He 2015 and Fixup full
  profiles' nets, which it probes). Offline on a machine without TFDS's CIFAR-10 or
  Debian's Fashion-MNIST: `--dataset shapeset_location` (both nets).

Command: `bash scripts/reproduce_learned_init.sh [--profile quick|full|smoke]`
"""

from reproductions.configs import plain_net_kwargs
from reproductions.configs import zhang2019 as zhang2019_config
from reproductions.run_config import RunConfig

# Measured wall times of whole profiles (the driver prints the one it runs).
MEASURED_RUNTIMES = {
    "quick": "32 min 54 s with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow (results/learned_init/quick/): "
             "24 min 28 s for the first 33 runs, 8 min 26 s for the 3 MetaInit-on-training-batches runs added after; "
             "a plain-net run 140-150 s, with GradInit 45-48 s more, with MetaInit 106-123 s more",
    "smoke": "about 40 s on a 2-core CPU (tests only)",
}

BASE = "lecun_normal"  # He et al.'s "Xavier": Var = 1/fan_in, untruncated
# (key, legend label) of the rows, in plotting order.
ROWS = (
    ("xavier", "Xavier (Var = 1/fan_in)"),
    ("gradinit", "Xavier + GradInit (Zhu et al. 2021)"),
    ("metainit", "Xavier + MetaInit (Dauphin & Schoenholz 2019)"),
    ("metainit_data", "Xavier + MetaInit on training batches"),
    ("lsuv", "LSUV (Mishkin & Matas 2016)"),
    ("he", "He (fan_in)"),
    ("fixup", "Fixup (Zhang et al. 2019)"),
)
PLAIN_ROWS = ("xavier", "gradinit", "metainit", "metainit_data", "lsuv", "he")
RESIDUAL_ROWS = ("xavier", "gradinit", "metainit", "lsuv", "he", "fixup")

# Claim criteria, fixed before the quick runs.
STALLED_WITHIN = 0.02     # stalls: every seed's final test error >= chance - this
TRAINS_BELOW = 0.10       # trains: every seed's final test error <= chance - this
HE_RELU_FACTOR = 2 ** 0.5  # He's rule relative to Xavier's (Var 2/n vs 1/n) per ReLU layer

_GRADINIT = {"iterations": 200, "scale_learning_rate": 1e-2, "gradient_norm_bound": 1.0, "min_scale": 0.01,
             "normalize_gradient": True, "clip": 1.0, "pool_batches": 64}
_METAINIT = {"iterations": 100, "batch_size": 32, "learning_rate": 0.1, "momentum": 0.9, "data": "random"}

_QUICK = dict(
    seeds=(0, 1, 2),
    plain=dict(depth=30, width_multiplier=1 / 16, stem="small_images", dataset="shapeset_location",
               learning_rate=1e-3, batch_size=64, steps=1000, eval_every=100, eval_examples=1000,
               steps_per_execution=10, jit_compile=False),
    residual=dict(depth=100, channels=16, downsampling=zhang2019_config.DOWNSAMPLING, readout="flatten",
                  dataset="fashion_mnist", learning_rate=3e-3, batch_size=32, steps=100, eval_every=25,
                  eval_examples=500, steps_per_execution=5),
    gradinit=_GRADINIT, metainit=_METAINIT,
    metainit_residual=dict(_METAINIT, iterations=50),
)
PROFILES = {
    "quick": _QUICK,
    "smoke": dict(
        _QUICK, seeds=(0,),
        plain=dict(_QUICK["plain"], depth=11, width_multiplier=1 / 32, steps=4, eval_every=2, eval_examples=16,
                   steps_per_execution=2, batch_size=16),
        residual=dict(_QUICK["residual"], depth=10, channels=4, dataset="shapeset3x2", steps=4, eval_every=2,
                      eval_examples=16, steps_per_execution=2, batch_size=8),
        gradinit=dict(_GRADINIT, iterations=3, pool_batches=4),
        metainit=dict(_METAINIT, iterations=2, batch_size=4),
        metainit_residual=dict(_METAINIT, iterations=2, batch_size=4)),
    "full": dict(
        _QUICK,
        plain=dict(_QUICK["plain"], width_multiplier=1 / 4, dataset="cifar10", steps=30 * 781, eval_every=781,
                   eval_examples=10_000, steps_per_execution=71, jit_compile=True),
        residual=dict(_QUICK["residual"], depth=1000, channels=32, batch_size=128, steps=1000, eval_every=100,
                      eval_examples=2000, steps_per_execution=50),
        gradinit=dict(_GRADINIT, iterations=390),
        metainit=dict(_METAINIT, iterations=500),
        metainit_residual=dict(_METAINIT, iterations=500)),
}
DEFAULT_PROFILE = "quick"


def _initializer(key, settings, experiment):
    if key == "gradinit":
        return {"class_name": "gradinit", "config": {"base": BASE, **settings["gradinit"]}}
    if key in ("metainit", "metainit_data"):
        options = settings["metainit_residual" if experiment == "residual" else "metainit"]
        data_source = {"data": "train"} if key == "metainit_data" else {}
        return {"class_name": "metainit", "config": {"base": BASE, **options, **data_source}}
    return {"xavier": BASE, "lsuv": "lsuv", "he": "he_normal", "fixup": "fixup"}[key]


def _plain_config(settings, key, dataset, data_dir):
    plain = settings["plain"]
    dataset = dataset or plain["dataset"]
    return RunConfig(
        name=f"plain{plain['depth']}_{key}", label=dict(ROWS)[key],
        tags={"experiment": "plain", "depth": plain["depth"], "row": key},
        model="plain_net", model_kwargs=plain_net_kwargs(plain["depth"], plain["width_multiplier"], plain["stem"],
                                                         dataset),
        initializer=_initializer(key, settings, "plain"), dataset=dataset, data_dir=data_dir,
        optimizer="momentum", momentum=0.9, learning_rate=plain["learning_rate"], batch_size=plain["batch_size"],
        steps=plain["steps"], eval_every=plain["eval_every"], eval_examples=plain["eval_examples"],
        steps_per_execution=plain["steps_per_execution"], jit_compile=plain["jit_compile"])


def _residual_config(settings, key, dataset, data_dir):
    residual = settings["residual"]
    dataset = dataset or residual["dataset"]
    # The Fixup driver's net: its "fixup" row, else its plain "he" row's (no scalars, no normalization).
    kwargs, _ = zhang2019_config.model_kwargs(residual, dataset, "fixup" if key == "fixup" else "he",
                                              residual["depth"])
    return RunConfig(
        name=f"residual{residual['depth']}_{key}", label=dict(ROWS)[key],
        tags={"experiment": "residual", "depth": residual["depth"], "row": key},
        model="residual_cnn", model_kwargs=kwargs,
        initializer=_initializer(key, settings, "residual"), dataset=dataset, data_dir=data_dir,
        optimizer="momentum", momentum=0.9, learning_rate=residual["learning_rate"],
        batch_size=residual["batch_size"], steps=residual["steps"], eval_every=residual["eval_every"],
        eval_examples=residual["eval_examples"], steps_per_execution=residual["steps_per_execution"],
        # TensorFlow's XLA cannot compile the scan's gradient (as in the Fixup driver).
        jit_compile=False)


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides both nets' datasets."""
    settings = PROFILES[profile]
    configs = [_plain_config(settings, key, dataset, data_dir) for key in PLAIN_ROWS]
    configs += [_residual_config(settings, key, dataset, data_dir) for key in RESIDUAL_ROWS]
    # The slowest runs (MetaInit on the plain net) first, so that the workers finish together.
    configs.sort(key=lambda c: (c.tags["experiment"] != "plain", not c.tags["row"].startswith("metainit")))
    return configs, list(settings["seeds"])

