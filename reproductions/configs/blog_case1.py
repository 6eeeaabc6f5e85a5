"""Blog post "case 1": a small fully connected net, He vs Glorot vs the Keras default.

Figure: `case1_curves.png` in the workdir: test and training error vs updates,
mean and min-max band over seeds, one colour per initializer.

Setting: `SimpleMLP(1024, 256, 9)` (one ReLU hidden layer) on flattened
Shapeset-3x2 (online stream), SGD with momentum 0.9, learning rate 0.01 (a common
default, not tuned), batch 64, biases 0, 4,000 updates, test error on 4,000 fixed
test images every 250 updates; 10 steps per compiled call (the harness then runs
at the speed of a hand-written tf.function loop, see benchmarks/harness_speed.py). The
three curves differ only in the initializer: He normal (ours: untruncated,
fan_in), Glorot uniform (ours: the paper's normalized init), and the Keras
default `keras.GlorotUniform`. Same seeds for every initializer.

Expected outcome: all three train. Our GlorotUniform and Keras's are the same
distribution drawn the same way, so with the same seed they give bit-identical
weights and their curves coincide exactly (a check of the harness as much as of
the initializers). With a single hidden layer the
initializers matter little; the depth experiments (He 2015, Glorot 2010) are where
they separate. This experiment is the end-to-end proof that data, harness, logs
and plots work together.

Runtime: `MEASURED_RUNTIMES` below (the driver prints the profile's when it starts);
smoke a few seconds (tests only).
Command: `bash scripts/reproduce_blog_cases.sh`
    (= `python -m reproductions.blog_cases --profile quick`).
"""

from reproductions import data
from reproductions.run_config import RunConfig

# Measured wall times (the driver prints the one it runs). Machines of one kind differ by up to 2x.
MEASURED_RUNTIMES = {"quick": "2 min 20 s on a 2-core CPU, TensorFlow (results/blog_case1/quick/)"}

# (run name, legend label, initializer identifier)
INITIALIZERS = (
    ("he", "He normal (ours: untruncated, fan_in)", "he_normal"),
    ("glorot", "Glorot uniform (ours: normalized init)", "glorot_uniform"),
    ("keras_default", "Keras default (keras.GlorotUniform)", "keras.GlorotUniform"),
)

PROFILES = {
    "quick": dict(seeds=(0, 1, 2), dataset="shapeset3x2", hidden_dim=256, steps=4000,
                  eval_every=250, eval_examples=4000, batch_size=64, learning_rate=0.01,
                  steps_per_execution=10),
    "smoke": dict(seeds=(0, 1), dataset="shapeset3x2", hidden_dim=16, steps=20,
                  eval_every=10, eval_examples=128, batch_size=16, learning_rate=0.01,
                  steps_per_execution=5),
}
DEFAULT_PROFILE = "quick"


def get_experiment(profile=DEFAULT_PROFILE, dataset=None, data_dir=None):
    """(run configs, seeds) of a profile; `dataset` overrides the profile's."""
    settings = PROFILES[profile]
    dataset = dataset or settings["dataset"]
    height, width, channels = data.input_shape(dataset)
    model_kwargs = dict(input_dim=height * width * channels, hidden_dim=settings["hidden_dim"],
                        output_dim=data.num_classes(dataset))
    configs = [
        RunConfig(name=name, label=label, tags={"init": name}, model="simple_mlp",
                  model_kwargs=model_kwargs,
                  initializer=initializer, dataset=dataset, flatten=True, optimizer="momentum",
                  momentum=0.9, learning_rate=settings["learning_rate"],
                  batch_size=settings["batch_size"], steps=settings["steps"],
                  eval_every=settings["eval_every"], eval_examples=settings["eval_examples"],
                  steps_per_execution=settings["steps_per_execution"], data_dir=data_dir)
        for name, label, initializer in INITIALIZERS
    ]
    return configs, list(settings["seeds"])
