"""μP learning-rate transfer (Yang et al. 2022, Tensor Programs V) and the coordinate check.

Yang et al. 2022 ("Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer")
train the same model at several widths over a grid of learning rates: under the
standard parametrization (SP) the best rate moves as the model widens, under μP it
stays put and wider is always better (their Fig. 1: Transformers trained with Adam).
The reference repo's MLP example (`microsoft/mup`, `examples/MLP/main.py`: 2 hidden
layers, SGD momentum 0.9, batch 64, 20 epochs of CIFAR-10, widths 64 to 8,192) makes the
same comparison with SGD.

Figures (written into the workdir):
* `lr_transfer_adam.png`, `lr_transfer_sgd.png` (Tensor Programs V, Fig. 1's layout): final training loss against
  log2 learning rate, one curve per width (mean over seeds, min-max band), SP left,
  μP right. Expected: SP's minimum moves to smaller rates as width grows, μP's stays at
  one rate, and μP's curves sit lower as width grows.
* `coord_check.png` (the reference repo's coordinate check; Tensor Programs V, App.
  D.1): mean |x| of each layer's output against width at steps 0-3 of training at
  one rate, SP and μP. Expected: flat under μP; the logits grow with width under SP.
* `coord_check_transformer.png`: the same for a small Transformer (`models.
  TransformerClassifier`, 2 blocks, 4 heads, widths 64-512) with Adam, the second,
  smaller setting (`TRANSFORMER_COORD`): μP's attention logits at 1/d.

Claims (`report.json` / `report.md`; criteria below, fixed before the runs): μP's best
rate moves by at most one grid step across the widths, SP's by more; under μP the
loss at the base width's best rate decreases with width; μP's coordinate check is
flat within `COORD_FLAT_FACTOR`, SP's grows by at least `COORD_GROWTH_FACTOR`, for the
MLP and for the Transformer.

Setting: `models.DeepMLP(depth=2, activation="relu")` (the reference's two hidden
layers; ours have biases, which μP's table covers) on flattened Shapeset-location
(offline, 9 classes; `--dataset cifar10` through TFDS on a machine with it), He-normal
draws (Var 2/fan_in, untruncated), batch 64; Adam (quick, as Tensor Programs V's Fig. 1)
or SGD momentum 0.9 (quick_sgd, as the reference's MLP). μP: base width 64 (its second
build at width 128 tells which axes grow), readout zero-initialized (as the reference's
MLP), hyperparameters otherwise SP's at width 64; no input or output multipliers tuned
(the reference tunes two at the base width). Changed for a CPU budget: Shapeset-location
for CIFAR-10 (an MLP learns it in a few hundred updates; on Shapeset-3x2 it stayed near
chance after 500, measured), 300 updates for 20 epochs, widths up to 1,024 for 8,192. The
loss is the training loss averaged over the last `eval_every` updates (the data is an
infinite generated stream, so every batch is new).

Profiles:
* `smoke`: seconds per run; tests only.
* `quick` (default): Adam; widths 64-1,024, 9 learning rates 2^-13 ... 2^-5 (picked from
  a one-seed pilot at widths 64 and 1,024: SP's best 2^-8 and 2^-12, μP's 2^-8 at both),
  SP and μP, 3 seeds, 300 updates: 270 runs; coordinate check at widths 128-2,048 (the
  reference checks 128-8,192), Adam at lr 0.001 (the reference's), 3 seeds, steps 0-3
  (committed: `results/yang2022/quick/`, clean commit db08d5d; estimated at 12 min
  before the run).
* `quick_sgd`: the same with SGD momentum 0.9 (the reference's MLP optimizer), learning
  rates 2^-11 ... 2^-3, coordinate check at lr 0.1 (the reference's) (committed:
  `results/yang2022/quick_sgd/`, clean commit 2661c1a, where it ran as the first quick
  profile).
* `long_sgd`: `quick_sgd` at 10x the updates (3,000; the reference trains its MLP for 20
  epochs): does SP's best rate move with a longer budget? Trained as fused groups (one
  program per width and seed, `reproductions.sweeps.fused_groups`) (committed:
  `results/yang2022/long_sgd/`, clean commit eafe5cd).
* `full` (GPU): both optimizers' sweeps at widths 64-8,192 over 11 learning rates,
  3,000 updates, coordinate check up to 8,192. Not run yet (no GPU has been lent).

Runtimes: `MEASURED_RUNTIMES` below (the driver prints the profile's when it starts).

Command: `bash scripts/reproduce_mup.sh [--profile quick|quick_sgd|full|smoke]`
"""

from reproductions import data
from reproductions.run_config import RunConfig

# Measured wall times of whole profiles (the driver prints the one it runs). Machines of
# one kind differ by up to 2x.
MEASURED_RUNTIMES = {
    "quick": "13 min 4 s with --jobs 2 on a 2-core CPU, TensorFlow (results/yang2022/quick/)",
    "quick_sgd": "11 min 44 s with --jobs 2 on a 2-core CPU, TensorFlow (results/yang2022/quick_sgd/)",
    "long_sgd": "32.5 min with --jobs 2 on a 2-core CPU (AMD EPYC), TensorFlow, fused groups of 18 runs (the "
                "sweep 32 min 6 s; results/yang2022/long_sgd/)",
}

PARAMETRIZATIONS = (("sp", "SP (standard parametrization)"), ("mup", "μP (maximal update parametrization)"))
BASE_WIDTH = 64
INITIALIZER = "he_normal"
READOUT = "zero"

# Claim criteria, fixed before the runs.
BEST_LR_MAX_SHIFT_MUP = 1        # μP: best rate moves by at most this many grid steps
WIDER_IS_BETTER_TOLERANCE = 0.01  # nats: a wider μP net may be at most this much worse
COORD_FLAT_FACTOR = 1.5          # μP: widest / narrowest mean |x| within this factor, every layer and step
COORD_GROWTH_FACTOR = 3.0        # SP: some layer's widest / narrowest ratio at least this

# Each sweep: (optimizer, log2 learning rates); a profile runs one or both.
SGD_SWEEP = ("momentum", tuple(range(-11, -2)))
ADAM_SWEEP = ("adam", tuple(range(-13, -4)))
COORD_LEARNING_RATE = {"momentum": 0.1, "adam": 0.001}  # the reference's coordinate checks
OPTIMIZER_NAMES = {"momentum": "sgd", "adam": "adam"}    # in claim ids, file names and the coordinate check

# The second, smaller setting: the coordinate check of a small Transformer (attention logits
# at 1/d under μP), Adam as in Tensor Programs V's Fig. 1; random tokens and labels, one batch
# read and trained on at every step (there is no offline text corpus here).
TRANSFORMER_COORD = dict(vocabulary_size=64, sequence_length=16, heads=4, blocks=2, classes=4,
                         widths=(64, 128, 256, 512), batch_size=32, steps=3, seeds=(0, 1, 2),
                         optimizer="adam", learning_rate=0.001, initializer="lecun_normal", data_seed=2022)

_QUICK = dict(
    dataset="shapeset_location", seeds=(0, 1, 2), widths=(64, 128, 256, 512, 1024),
    sweeps=(ADAM_SWEEP,), depth=2, activation="relu", batch_size=64,
    steps=300, eval_every=100, eval_examples=512, steps_per_execution=50,
    coord_widths=(128, 256, 512, 1024, 2048), coord_seeds=(0, 1, 2), coord_steps=3,
    transformer_coord=TRANSFORMER_COORD,
)
PROFILES = {
    "quick": _QUICK,
    "quick_sgd": {**_QUICK, "sweeps": (SGD_SWEEP,), "transformer_coord": None},
    "long_sgd": {**_QUICK, "sweeps": (SGD_SWEEP,), "transformer_coord": None, "steps": 3000},
    "smoke": {**_QUICK, "seeds": (0,), "widths": (16, 32), "sweeps": (("adam", (-9, -7)),), "steps": 20,
              "eval_every": 10, "eval_examples": 64, "steps_per_execution": 5, "coord_widths": (16, 32, 64),
              "coord_seeds": (0,), "coord_steps": 1,
              "transformer_coord": {**TRANSFORMER_COORD, "sequence_length": 4, "blocks": 1, "widths": (8, 16),
                                    "batch_size": 4, "steps": 1, "seeds": (0,)}},
    "full": {**_QUICK, "widths": (64, 128, 256, 512, 1024, 2048, 4096, 8192),
             "sweeps": (("adam", tuple(range(-14, -3))), ("momentum", tuple(range(-12, -1)))), "steps": 3000,
             "eval_every": 500, "eval_examples": 2000, "coord_widths": (128, 256, 512, 1024, 2048, 4096, 8192),
             "transformer_coord": {**TRANSFORMER_COORD, "widths": (64, 128, 256, 512, 1024, 2048)}},
}
DEFAULT_PROFILE = "quick"


def base_width(settings):
    """μP's base width: `BASE_WIDTH`, or the narrowest width of a profile narrower than it."""
    return min(BASE_WIDTH, *settings["widths"])


def mlp_kwargs(settings, dataset, width):
    """`models.DeepMLP` arguments of one width."""
    height, image_width, channels = data.input_shape(dataset)
    return dict(input_dim=height * image_width * channels, num_classes=data.num_classes(dataset),
                depth=settings["depth"], width=width, activation=settings["activation"])


def mup_settings(settings, dataset):
    """A run config's `parametrization` for μP: the builder's arguments at the base
    width and at twice it (which axes grow), and the readout."""
    base = base_width(settings)
    return {"name": "mup", "base_model_kwargs": mlp_kwargs(settings, dataset, base),
            "delta_model_kwargs": mlp_kwargs(settings, dataset, 2 * base), "readout": READOUT}


def coord_optimizer(settings):
    """The optimizer of a profile's coordinate check: its first sweep's."""
    return settings["sweeps"][0][0]


def _run_name(optimizer, key, width, log2_rate):
    # SGD runs keep the names they had when SGD was the only sweep, so those run folders resume.
    prefix = "" if optimizer == "momentum" else f"{optimizer}_"
    return f"{prefix}{key}_w{width}_lr2^{log2_rate}"


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides the profile's."""
    settings = PROFILES[profile]
    dataset = dataset or settings["dataset"]
    configs = []
    for optimizer, log2_rates in settings["sweeps"]:
        for key, label in PARAMETRIZATIONS:
            for width in settings["widths"]:
                for log2_rate in log2_rates:
                    configs.append(_run_config(settings, dataset, data_dir, optimizer, key, label, width, log2_rate))
    return configs, list(settings["seeds"])


def _run_config(settings, dataset, data_dir, optimizer, key, label, width, log2_rate):
    return RunConfig(
        name=_run_name(optimizer, key, width, log2_rate), label=f"{label}, width {width}",
        tags={"parametrization": key, "width": width, "log2_lr": log2_rate, "optimizer": optimizer},
        model="deep_mlp", model_kwargs=mlp_kwargs(settings, dataset, width),
        initializer=INITIALIZER, flatten=True, dataset=dataset, data_dir=data_dir,
        optimizer=optimizer, momentum=0.9, learning_rate=2.0 ** log2_rate,
        batch_size=settings["batch_size"], steps=settings["steps"],
        eval_every=settings["eval_every"], eval_examples=settings["eval_examples"],
        steps_per_execution=settings["steps_per_execution"], jit_compile=False,
        parametrization=mup_settings(settings, dataset) if key == "mup" else None)
