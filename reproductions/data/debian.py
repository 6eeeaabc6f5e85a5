"""Real datasets from Debian packages, offline: `apt-get install dataset-fashion-mnist`
puts Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) under /usr/share/datasets/fashion-mnist
as the original gzipped IDX files. `reproductions.data.load` uses them for
`fashion_mnist` when TFDS has no prepared copy, so a machine without internet access can
train on real images.
"""

import gzip
import pathlib

import numpy as np

# dataset name -> (folder, {split: (images file, labels file)})
DEBIAN_DATASETS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist", {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}),
}
PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array of an IDX file (LeCun's MNIST format: magic 0 0 type ndim, big-endian
    dimensions, then the data), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"Not an IDX file. Received: path={path}")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    values = np.frombuffer(data, dtype=_IDX_TYPES[data[2]], offset=4 + 4 * dims)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"IDX file cut short: {values.size} values for shape {shape}. Received: path={path}")
    return values.reshape(shape)


def available(name):
    """Whether the Debian package of `name` is installed (its files are there)."""
    if name not in DEBIAN_DATASETS:
        return False
    folder, files = DEBIAN_DATASETS[name]
    return all((pathlib.Path(folder) / f).exists() for pair in files.values() for f in pair)


def arrays(name, split):
    """(images uint8 (N, H, W, 1), labels int64) of a split: "train" = the first 90% of the
    training file, "validation" = its last 10%, "test" = the test file (the repository's
    `TFDS_SPLITS`)."""
    folder, files = DEBIAN_DATASETS[name]
    images_file, labels_file = files["test" if split == "test" else "train"]
    images = read_idx(pathlib.Path(folder) / images_file)[..., None]
    labels = read_idx(pathlib.Path(folder) / labels_file).astype(np.int64)
    if split != "test":
        cut = int(0.9 * len(labels))
        images, labels = (images[:cut], labels[:cut]) if split == "train" else (images[cut:], labels[cut:])
    return images, labels
