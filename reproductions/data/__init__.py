"""One entry point for every dataset the drivers use: `load(name, split, ...)`.

* `shapeset3x2` (offline; the blog case's default): Glorot & Bengio 2010's
  synthetic data, generated on the fly (`reproductions.data.shapeset`). The
  training split is an infinite online stream; validation and test are fixed sets
  that do not depend on the run's seed, so every run of a sweep is scored on the
  same images.
* `shapeset_location` (offline; the He 2015 quick profile's): the same objects,
  one per image, labelled by the 3x3 cell holding the object's centre; a task
  deep nets learn within a few hundred updates (`shapeset.generate_location`).
* `token_votes` (offline; the doctor's calibration panel's transformers): sequences of
  32 token ids whose class is the block of the vocabulary most of them come from
  (`reproductions.data.tokens`), generated as Shapeset is.
* `mnist`, `fashion_mnist`, `cifar10`: through `tfds.load`. Validation is the
  last 10% of TFDS's train split (as Glorot & Bengio held out part of CIFAR-10's
  train set), train the first 90%. Without a TFDS copy, `fashion_mnist` is read from
  Debian's `dataset-fashion-mnist` package where it is installed (`debian.py`).

Pixels are scaled to [-1, 1] for every dataset. Batches come as a `tf.data`
pipeline with prefetch under the TensorFlow backend; under JAX or torch the generated
datasets come as `keras.utils.PyDataset`s with the same batches, and a Debian package's
Fashion-MNIST as `PyDataset`s of the same examples, reshuffled by numpy (no TensorFlow
needed, `reproductions.data.batches`).
"""

import dataclasses
import itertools
import socket

import numpy as np

from reproductions.data import debian, shapeset, tokens

@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the drivers need to know about one dataset.

    Attributes:
        input_shape: (height, width, channels) of an image, or (length,) of a sequence.
        num_classes: number of labels.
        generator: offline generator `(num_examples, seed) -> (images, labels)`, or
            None for a TFDS dataset.
        train_examples: size of the training split (`TFDS_SPLITS["train"]`), None for
            an infinite generated stream.
        dtype: of the inputs ("float32" images, "int32" token ids).
    """

    input_shape: tuple
    num_classes: int
    generator: object = None
    train_examples: int | None = None
    dtype: str = "float32"


# The one dataset table of the repository.
DATASET_TABLE = {
    "shapeset3x2": DatasetInfo((32, 32, 1), shapeset.NUM_CLASSES, shapeset.generate),
    "shapeset_location": DatasetInfo((32, 32, 1), shapeset.LOCATION_GRID**2,
                                     shapeset.generate_location),
    "token_votes": DatasetInfo((tokens.LENGTH,), tokens.CLASSES, tokens.generate_votes, dtype="int32"),
    "mnist": DatasetInfo((28, 28, 1), 10, train_examples=54_000),          # 90% of 60,000
    "fashion_mnist": DatasetInfo((28, 28, 1), 10, train_examples=54_000),  # 90% of 60,000
    "cifar10": DatasetInfo((32, 32, 3), 10, train_examples=45_000),        # 90% of 50,000
}
DATASETS = tuple(DATASET_TABLE)
SPLITS = ("train", "validation", "test")

# Fixed seeds of the Shapeset evaluation sets (independent of the run seed). The
# training stream's seed is the run's seed, which cannot collide with these sets
# because each stream chunk uses SeedSequence([seed, chunk]).
SHAPESET_EVAL_SEEDS = {"validation": 2010_0001, "test": 2010_0002}
TFDS_SPLITS = {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"}
SHUFFLE_BUFFER = 10_000


class DatasetUnavailableError(RuntimeError):
    """A TFDS dataset is neither prepared locally nor downloadable."""


def info(name):
    """The `DatasetInfo` of a dataset; a ValueError lists the valid names."""
    if name not in DATASET_TABLE:
        raise ValueError(f"Unknown dataset; valid: {', '.join(DATASETS)}. Received: name={name!r}")
    return DATASET_TABLE[name]


def input_shape(name):
    """Image shape (height, width, channels) of a dataset ((length,) for token sequences)."""
    return info(name).input_shape


def num_classes(name):
    return info(name).num_classes


def is_generated(name):
    """Whether the dataset is generated offline (no download, no TensorFlow needed)."""
    return info(name).generator is not None


def _network_reachable(host="storage.googleapis.com", port=443, timeout=3.0):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_tfds(name, split, data_dir, download):
    import tensorflow_datasets as tfds

    kwargs = dict(split=TFDS_SPLITS[split], as_supervised=True, data_dir=data_dir)
    try:
        return tfds.load(name, download=False, **kwargs)
    except AssertionError:  # not prepared in data_dir
        pass
    if debian.available(name):  # the same splits, from the Debian package's files
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(debian.arrays(name, split))
    package = f" or `apt-get install {debian.PACKAGES[name]}`" if name in debian.PACKAGES else ""
    advice = (
        f"TFDS dataset '{name}' is not prepared in {data_dir or '~/tensorflow_datasets'} "
        f"and cannot be downloaded from here. Either use the offline default "
        f"`--dataset shapeset3x2`{package}, or prepare it on a machine with internet access "
        f"(`tfds build {name} --data_dir DIR`, or tfds.load once), copy DIR here and "
        "pass `--data-dir DIR`."
    )
    if not download or not _network_reachable():
        raise DatasetUnavailableError(advice)
    try:
        return tfds.load(name, download=True, **kwargs)
    except Exception as error:  # network or mirror failure during the download
        raise DatasetUnavailableError(f"{advice} (Download failed: {error})") from error


def _tf_data_backend():
    import keras

    return keras.backend.backend() == "tensorflow"


def load(name, split, batch_size, *, seed=0, num_examples=None, flatten=False,
         data_dir=None, download=True):
    """Returns the batches of `(images, labels)` of one split, for Keras `fit`/`evaluate`.

    With the TensorFlow backend a batched, prefetched `tf.data.Dataset`; with any other
    backend, a generated dataset comes as a `keras.utils.PyDataset` (same batches, no
    TensorFlow needed), a dataset whose Debian package is installed too (the same
    examples, shuffled by numpy), and a TFDS dataset as `tf.data` (TensorFlow must be
    installed).

    Args:
        name: one of `DATASETS`.
        split: "train" (shuffled and repeated; for Shapeset an infinite online
            stream), "validation" or "test" (one pass, in a fixed order).
        batch_size: examples per batch.
        seed: seed of the training stream / shuffling.
        num_examples: size of a Shapeset evaluation set (default 10,000), or the
            number of examples to take from an evaluation split (default: all).
        flatten: reshape images to vectors (for fully connected nets).
        data_dir: TFDS data folder (default TFDS's).
        download: allow TFDS to download when online.

    Raises:
        ValueError: unknown dataset or split.
        DatasetUnavailableError: a TFDS dataset that is not prepared, offline.
    """
    dataset_info = info(name)
    if split not in SPLITS:
        raise ValueError(f"Unknown split; valid: {', '.join(SPLITS)}. Received: split={split!r}")
    if dataset_info.generator is None and not _tf_data_backend() and debian.available(name):
        return _debian_batches(name, split, batch_size, seed, num_examples, flatten)
    if dataset_info.generator is not None and not _tf_data_backend():
        from reproductions.data.batches import ArrayBatches, StreamBatches

        if split == "train":
            return StreamBatches(dataset_info.generator, batch_size, seed, flatten)
        images, labels = dataset_info.generator(num_examples or 10_000, SHAPESET_EVAL_SEEDS[split])
        return ArrayBatches(images, labels, batch_size, flatten)
    import tensorflow as tf  # tf.data; the models themselves are not TF-bound

    shape = input_shape(name)
    image_spec = tf.TensorSpec((None, *shape), tf.as_dtype(dataset_info.dtype))
    label_spec = tf.TensorSpec((None,), tf.int64)

    if dataset_info.generator is not None:
        generator = dataset_info.generator
        if split == "train":
            dataset = tf.data.Dataset.from_generator(
                lambda: shapeset.stream(batch_size, seed, generator=generator),
                output_signature=(image_spec, label_spec),
            )
        else:
            images, labels = generator(num_examples or 10_000, SHAPESET_EVAL_SEEDS[split])
            dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    else:
        dataset = _load_tfds(name, split, data_dir, download)
        if split == "train":
            dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed).repeat()
        elif num_examples:
            dataset = dataset.take(num_examples)
        dataset = dataset.batch(batch_size, drop_remainder=split == "train").map(
            lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, tf.cast(y, tf.int64)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if flatten:
        dataset = dataset.map(lambda x, y: (tf.reshape(x, (-1, int(np.prod(shape)))), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _debian_batches(name, split, batch_size, seed, num_examples, flatten):
    """A Debian package's split as `PyDataset`s, pixels in [-1, 1] (no TensorFlow needed)."""
    from reproductions.data.batches import ArrayBatches, ShuffledArrayBatches

    images, labels = debian.arrays(name, split)
    images = images.astype(np.float32) / 127.5 - 1.0
    if split == "train":
        return ShuffledArrayBatches(images, labels, batch_size, seed, flatten)
    if num_examples:
        images, labels = images[:num_examples], labels[:num_examples]
    return ArrayBatches(images, labels, batch_size, flatten)


def zip_members(streams, member_streams, member_keys):
    """The batches of a fused group of runs (`reproductions.harness.run_group`): each
    element is `((images of stream 0, images of stream 1, ...), {member key: labels})`,
    member `member_keys[i]` reading the labels of stream `member_streams[i]`. Members of
    one seed share one stream, so its batches are made once. As `load` returns them:
    `tf.data` (TensorFlow backend) or a `keras.utils.PyDataset`.
    """
    member_streams, member_keys = list(member_streams), list(member_keys)
    if hasattr(streams[0], "as_numpy_iterator"):
        import tensorflow as tf

        def split(*batches):
            return (tuple(images for images, _ in batches),
                    {key: batches[stream][1] for key, stream in zip(member_keys, member_streams)})

        return tf.data.Dataset.zip(tuple(streams)).map(split)
    from reproductions.data.batches import MemberBatches

    return MemberBatches(streams, member_streams, member_keys)


def as_numpy(dataset):
    """Concatenates a finite batched dataset (tf.data or PyDataset) into `(images, labels)`
    numpy arrays."""
    if hasattr(dataset, "as_numpy_iterator"):
        batches = list(dataset.as_numpy_iterator())
    else:
        batches = [dataset[index] for index in range(dataset.num_batches)]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def first_batches(dataset, count):
    """The first `count` `(images, labels)` batches of a split, concatenated into numpy
    arrays (of a training stream: the examples its first `count` updates see)."""
    if hasattr(dataset, "as_numpy_iterator"):
        batches = list(itertools.islice(dataset.as_numpy_iterator(), count))
    else:
        batches = [dataset[index] for index in range(count)]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def first_batch(dataset):
    """The first `(images, labels)` batch of a split (of a training stream: the batch
    its first update sees), as numpy arrays."""
    return first_batches(dataset, 1)
