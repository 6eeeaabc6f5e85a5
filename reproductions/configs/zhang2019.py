"""Zhang, Dauphin & Ma 2019 (Fixup): residual nets of 1,000 layers (10,000 on a GPU) train
without normalization when the initialization alone tames the residual stream.

Zhang, Dauphin & Ma, "Fixup Initialization: Residual Learning Without Normalization", ICLR
2019; with De & Smith, NeurIPS 2020 ("Batch Normalization Biases Residual Blocks Towards the
Identity Function in Deep Networks": SkipInit) and Bachlechner et al. 2020 ("ReZero is All
You Need: Fast Convergence at Large Depth"). Their Fig. 2 trains CIFAR-10 ResNets of basic
blocks, up to 10,000 layers, without normalization at BatchNorm's learning rate and
compares the first epoch's test accuracy against BatchNorm and no normalization, by depth.

The net (`models.ResidualCNN`): stride-2 convolutions, then `blocks` identical basic blocks
x <- relu(x + conv2(relu(conv1(x)))) applied by `keras.ops.scan` (the stack builds in
seconds at any depth), a dense readout; depth = weight layers = downsampling + 2 x blocks +
1. Rows (every one at the same learning rate, the same seeds):
* `he`: He et al. 2015 (untruncated, fan_in), no normalization: the stream's variance grows
  by a constant factor per block, exponentially in depth;
* `batchnorm`: He, conv-BatchNorm in every branch (conv1-BN-relu-conv2-BN), and after the
  stem's convolutions: the baseline;
* `fixup`: `initialize_weights(model, "fixup")`: classifier and each branch's last
  convolution 0, the first scaled by L^(-1/2) (m = 2), scalar multiplier and biases;
* `skipinit`: He + a scalar multiplier at the end of every branch, 1/sqrt(blocks) at init
  (De & Smith: 0 or small, at most 1/sqrt(d); 1/sqrt(d) is BatchNorm's own downscaling of a
  branch at initialization by their analysis: `models.residual_cnn.skipinit_multiplier`);
* `rezero`: He + the same multiplier at 0 (Bachlechner et al.): the net starts as its stem;
* `keras_he_normal`, `keras_glorot_uniform`: Keras's built-ins (truncated HeNormal; the
  default GlorotUniform) on every kernel, no normalization: the reference rows.

Figures (written into the workdir):
* `depth_accuracy.png` (their Fig. 2): test accuracy after the budget against depth, one
  line per row, mean and min-max over seeds; a diverged run is drawn at 0.
* `signal_at_init.png`: at initialization, against depth, for every row: the forward gain
  of the residual stack (RMS of its output over its input's) and the gradient norm of the
  loss over all weights, from `signal.json` (measured before the sweep on one batch,
  several draws, `signal.py`). Expected: He without normalization grows exponentially with
  depth (overflowing float32 deep: drawn at the top); Fixup stays at 1 (every branch ends
  at 0, so the stack is the identity at init); BatchNorm grows like sqrt(depth).

Claims (criteria below, fixed before the quick runs; >= 3 seeds): Fixup, SkipInit and
ReZero train the deepest net well above chance on every seed; He without normalization
and Keras's built-ins do not (diverged or near chance) at the deepest depth; Fixup's final
error at the deepest depth is no worse than BatchNorm's; at initialization He's stack
gain grows with depth, to overflow or past STREAM_EXPLODED at 100 layers, while Fixup's
stays within FIXUP_GAIN_BAND at every depth.

What the quick profile changes for a 2-core CPU (each said where it matters):
* Fashion-MNIST (offline from Debian's `dataset-fashion-mnist`, or TFDS), not CIFAR-10.
* 16 channels, three stride-2 convolutions to 4 x 4 maps, batch 32, a flatten readout
  (as the Xiao et al. quick profile, for the same reason: faster learning in a small
  budget); one update of the 1,000-layer net took 0.3-0.4 s (0.45-0.85 s with BatchNorm) with
  two runs at a time (the committed runs' final.json).
* 100 updates (Fig. 2: one epoch of CIFAR-10, ~390 updates of 128 examples).
* The scalars train at the weights' rate (the harness has one rate); Fixup's CIFAR code
  (`hongyi-zhang/Fixup`, `cifar/cifar_train.py`) gives its scalar biases and multipliers
  a tenth of it, with weight decay 1e-4 and mixup, neither used here.
* One learning rate for every row, 3e-3 with SGD momentum 0.9, chosen in pilots (not
  committed; seed 0, this task, 100-200 updates): BatchNorm trains the 10- and 100-layer
  nets there (test error 0.27 and 0.45 after 100 updates) and Fixup, SkipInit and ReZero
  the 1,000-layer net (0.32, 0.35, 0.31); at rates of 1e-2 and above no 1,000-layer net of
  ours trained reliably in 100-200 updates, Fixup included (1e-2: it learned in one pilot
  and collapsed to chance in another that differed only in evaluating first; 3e-2 with the
  flatten readout: chance), BatchNorm neither (its stream grows like sqrt(depth) and its
  first losses reach ~40 at 1,000 layers). So this is not the paper's "BatchNorm's own
  rate" (0.1 at batch 128 on CIFAR-10): it is the largest rate of the pilots at which the
  deep nets of the initialization methods train, shared by every row.

Profiles:
* `smoke`: seconds; tests only.
* `quick` (default): depths 10, 100, 1,000 x 7 rows x 3 seeds, 100 updates each; the
  signal at init at depths 10 to 1,000, 10 draws (63 runs; committed:
  `results/zhang2019/quick/`: the runs at clean commit 139c1d6 with 3 draws of the signal;
  the 10 draws and the claims' margins redrawn later; all 7 claims hold).
* `full` (GPU, not run yet): depths 10 to 10,000, 32 channels, batch 128,
  1,000 updates; the signal to 10,000 layers. Projected wall time: `bash
  scripts/check_accelerator.sh` on the GPU machine (`benchmarks/README.md`). Runs on JAX
  (tested without TensorFlow); on a machine without Debian's `dataset-fashion-mnist`, copy
  its four IDX files to /usr/share/datasets/fashion-mnist, or train on Shapeset-3x2,
  generated offline (`--dataset shapeset3x2`).

Runtimes: `MEASURED_RUNTIMES` below (the driver prints the profile's when it starts).

Command: `bash scripts/reproduce_fixup.sh [--profile quick|full|smoke]`
"""

from models.residual_cnn import blocks_for, skipinit_multiplier
from reproductions import data
from reproductions.run_config import RunConfig

# Measured wall times of whole profiles (the driver prints the one it runs). Machines of
# one kind differ by up to 2x.
MEASURED_RUNTIMES = {
    "quick": "9 min 23 s with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow (results/zhang2019/quick/): the "
             "signal at init 2 min 24 s (3 draws; the 10 draws measured later took 9 min 0 s beside another job), each "
             "1,000-layer run that trains 30-88 s (BatchNorm the slowest), the diverging ones 6-20 s",
    "smoke": "about 20 s on a 2-core CPU (tests only)",
}

# (key, legend label) of the rows, in plotting order.
ROWS = (
    ("he", "He, no normalization"),
    ("batchnorm", "BatchNorm (He)"),
    ("fixup", "Fixup (Zhang et al.)"),
    ("skipinit", "SkipInit, alpha = 1/sqrt(blocks) (De & Smith)"),
    ("rezero", "ReZero, alpha = 0 (Bachlechner et al.)"),
    ("keras_he_normal", "keras.HeNormal, no normalization"),
    ("keras_glorot_uniform", "keras.GlorotUniform, no normalization"),
)
TRAINING_ROWS = ("fixup", "skipinit", "rezero")  # claimed to train the deepest net
FAILING_ROWS = ("he", "keras_he_normal", "keras_glorot_uniform")  # claimed not to

# Claim criteria, fixed before the quick runs.
WELL_ABOVE_CHANCE = 0.30     # trains the deepest net: every seed's final test error <= chance - 0.30
NOT_TRAINED_WITHIN = 0.10    # does not train: every seed diverged or ends > chance - 0.10
NO_WORSE_THAN_BATCHNORM = 0.0  # Fixup's mean final error at the deepest depth <= BatchNorm's + this
STREAM_EXPLODED = 100.0      # He's stack gain at init exceeds this by 100 layers (or overflows)
FIXUP_GAIN_BAND = (0.5, 2.0)  # Fixup's stack gain at init stays within this at every depth

DOWNSAMPLING = 3
_QUICK = dict(
    dataset="fashion_mnist", seeds=(0, 1, 2), channels=16, downsampling=DOWNSAMPLING, readout="flatten",
    batch_size=32, learning_rate=3e-3, steps=100, eval_every=25, eval_examples=500, steps_per_execution=5,
    depths=(10, 100, 1000), signal_depths=(10, 30, 100, 300, 1000), signal_draws=10, signal_batch=32,
)
PROFILES = {
    "quick": _QUICK,
    "smoke": {**_QUICK, "seeds": (0,), "batch_size": 8, "steps": 4, "eval_every": 2, "eval_examples": 16,
              "steps_per_execution": 2, "channels": 4, "depths": (6,), "signal_depths": (6, 10),
              "signal_draws": 1, "signal_batch": 8},
    "full": {**_QUICK, "channels": 32, "batch_size": 128, "steps": 1000, "eval_every": 100,
             "eval_examples": 2000, "steps_per_execution": 50, "depths": (10, 100, 1000, 3000, 10000),
             "signal_depths": (10, 30, 100, 300, 1000, 3000, 10000)},
}
DEFAULT_PROFILE = "quick"


def row_settings(key, blocks):
    """(model keyword arguments, `initialize_weights` method) of one row at `blocks` blocks."""
    if key == "he":
        return {}, "he"
    if key == "batchnorm":
        return {"normalization": "batch"}, "he"
    if key == "fixup":
        return {"scalars": "fixup"}, "fixup"
    if key == "skipinit":
        return {"scalars": "multiplier", "multiplier_initial": skipinit_multiplier(blocks)}, "he"
    if key == "rezero":
        return {"scalars": "multiplier", "multiplier_initial": 0.0}, "he"
    if key == "keras_he_normal":
        return {}, "keras.HeNormal"
    if key == "keras_glorot_uniform":
        return {}, "keras.GlorotUniform"
    raise ValueError(f"Unknown row; valid: {', '.join(k for k, _ in ROWS)}. Received: key={key!r}")


def model_kwargs(settings, dataset, key, depth):
    """`models.ResidualCNN`'s arguments for one row at `depth` weight layers, and the method."""
    blocks = blocks_for(depth, settings["downsampling"])
    extra, method = row_settings(key, blocks)
    return dict(blocks=blocks, channels=settings["channels"], input_shape=data.input_shape(dataset),
                num_classes=data.num_classes(dataset), downsampling=settings["downsampling"],
                readout=settings["readout"], **extra), method


def _config(settings, dataset, data_dir, key, depth):
    kwargs, method = model_kwargs(settings, dataset, key, depth)
    return RunConfig(
        name=f"{key}_d{depth}", label=dict(ROWS)[key], tags={"row": key, "depth": depth},
        model="residual_cnn", model_kwargs=kwargs, initializer=method,
        dataset=dataset, data_dir=data_dir, optimizer="momentum", momentum=0.9,
        learning_rate=settings["learning_rate"], batch_size=settings["batch_size"], steps=settings["steps"],
        eval_every=settings["eval_every"], eval_examples=settings["eval_examples"],
        # TensorFlow's XLA cannot compile the scan's gradient (a TensorArray without a fixed size).
        jit_compile=False, steps_per_execution=settings["steps_per_execution"])


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides the profile's."""
    settings = PROFILES[profile]
    dataset = dataset or settings["dataset"]
    configs = [_config(settings, dataset, data_dir, key, depth)
               for depth in settings["depths"] for key, _ in ROWS]
    # The deepest (slowest) runs first, so that the sweep's workers finish together.
    configs.sort(key=lambda c: -c.tags["depth"])
    return configs, list(settings["seeds"])
