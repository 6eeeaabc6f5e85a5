"""reproductions.data.load: Shapeset offline, TFDS through mock data, offline errors."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from reproductions import data
from reproductions.data import debian


def test_shapeset_train_stream_batches():
    dataset = data.load("shapeset3x2", "train", batch_size=8, seed=0)
    images, labels = next(iter(dataset))
    assert images.shape == (8, 32, 32, 1) and labels.shape == (8,)
    flat, _ = next(iter(data.load("shapeset3x2", "train", batch_size=8, seed=0, flatten=True)))
    np.testing.assert_array_equal(flat.numpy(), images.numpy().reshape(8, -1))


def test_shapeset_test_set_is_fixed_and_distinct_from_validation():
    test_a = data.as_numpy(data.load("shapeset3x2", "test", batch_size=64, seed=0, num_examples=100))
    test_b = data.as_numpy(data.load("shapeset3x2", "test", batch_size=32, seed=5, num_examples=100))
    validation = data.as_numpy(data.load("shapeset3x2", "validation", batch_size=64, num_examples=100))
    np.testing.assert_array_equal(test_a[0], test_b[0])  # same images whatever the run seed
    assert test_a[0].shape == (100, 32, 32, 1)
    assert not np.array_equal(test_a[0], validation[0])


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("fashion_mnist", (28, 28, 1)),
                                         ("cifar10", (32, 32, 3))])
def test_tfds_datasets_normalized_with_mock_data(name, shape):
    with tfds.testing.mock_data(num_examples=40):
        train = data.load(name, "train", batch_size=16, seed=0)
        images, labels = next(iter(train))
        assert images.shape == (16,) + shape and images.dtype.name == "float32"
        assert labels.dtype.name == "int64"
        test_images, _ = data.as_numpy(data.load(name, "test", batch_size=16, flatten=True))
        assert test_images.shape[1] == np.prod(shape)
    for values in (images.numpy(), test_images):
        assert values.min() >= -1.0 and values.max() <= 1.0
    assert data.input_shape(name) == shape and data.num_classes(name) == 10


def test_unprepared_tfds_dataset_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_network_reachable", lambda *a, **k: False)
    with pytest.raises(data.DatasetUnavailableError, match="--dataset shapeset3x2.*--data-dir"):
        data.load("cifar10", "train", batch_size=8, data_dir=str(tmp_path))


def test_download_disabled_never_touches_the_network(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("network probed although download=False")

    monkeypatch.setattr(data, "_network_reachable", fail)
    with pytest.raises(data.DatasetUnavailableError):
        data.load("mnist", "test", batch_size=8, data_dir=str(tmp_path), download=False)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="valid: shapeset3x2, shapeset_location, token_votes, mnist"):
        data.load("imagenet", "train", batch_size=8)
    with pytest.raises(ValueError, match="valid: train, validation, test"):
        data.load("shapeset3x2", "dev", batch_size=8)


def test_one_dataset_table():
    assert data.DATASETS == tuple(data.DATASET_TABLE)
    assert data.info("cifar10").train_examples == 45_000 and data.info("shapeset3x2").train_examples is None
    assert data.is_generated("shapeset_location") and not data.is_generated("mnist")
    with pytest.raises(ValueError, match="valid: shapeset3x2, shapeset_location, token_votes, mnist"):
        data.info("imagenet")


def _write_idx(path, array):
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_the_debian_package_offline(tmp_path, monkeypatch):
    """Without a TFDS copy, `fashion_mnist` reads the Debian package's IDX files (a fake
    package folder here): the TFDS splits (first 90% / last 10% of train, test), pixels
    in [-1, 1]; with neither, the error names the package."""
    from reproductions.data import debian

    rng = np.random.default_rng(0)
    train_images, train_labels = rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10
    names = debian.DEBIAN_DATASETS["fashion_mnist"][1]
    _write_idx(tmp_path / names["train"][0], train_images)
    _write_idx(tmp_path / names["train"][1], train_labels)
    _write_idx(tmp_path / names["test"][0], train_images[:5])
    _write_idx(tmp_path / names["test"][1], train_labels[:5])
    np.testing.assert_array_equal(debian.read_idx(tmp_path / names["train"][1]), train_labels)
    monkeypatch.setattr(data, "_network_reachable", lambda *a, **k: False)
    monkeypatch.setitem(debian.DEBIAN_DATASETS, "fashion_mnist", (str(tmp_path / "absent"), names))
    with pytest.raises(data.DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion_mnist", "test", batch_size=4, data_dir=str(tmp_path / "tfds"))
    monkeypatch.setitem(debian.DEBIAN_DATASETS, "fashion_mnist", (str(tmp_path), names))
    images, labels = data.as_numpy(data.load("fashion_mnist", "validation", batch_size=4,
                                             data_dir=str(tmp_path / "tfds")))
    assert images.shape == (2, 28, 28, 1) and list(labels) == [8, 9]
    np.testing.assert_allclose(images[..., 0], train_images[18:] / 127.5 - 1.0, atol=1e-6)
    train = next(iter(data.load("fashion_mnist", "train", batch_size=6, seed=1, data_dir=str(tmp_path / "tfds"))))
    assert train[0].shape == (6, 28, 28, 1) and set(train[1].numpy()) <= set(range(8))
    # Under JAX or torch the same files come as PyDatasets (no TensorFlow).
    monkeypatch.setattr(data, "_tf_data_backend", lambda: False)
    test_images, test_labels = data.as_numpy(data.load("fashion_mnist", "test", batch_size=4, num_examples=3))
    np.testing.assert_allclose(test_images[..., 0], train_images[:3] / 127.5 - 1.0, atol=1e-6)
    assert list(test_labels) == [0, 1, 2]
    stream = data.load("fashion_mnist", "train", batch_size=6, seed=1, flatten=True)
    assert stream.num_batches is None and stream[0][0].shape == (6, 784)
    epoch = np.concatenate([stream[i][1] for i in range(3)])  # 18 training examples: 3 full batches
    assert sorted(epoch) == sorted(train_labels[:18]) and not np.array_equal(epoch, train_labels[:18])
    assert not np.array_equal(stream[3][1], stream[0][1]) or not np.array_equal(stream[4][1], stream[1][1])
    again = data.load("fashion_mnist", "train", batch_size=6, seed=1, flatten=True)
    np.testing.assert_array_equal(again[4][0], stream[4][0])  # seeded: the same stream
    (tmp_path / "bad").write_bytes(b"\x00\x01\x02\x03")
    with pytest.raises(ValueError, match="Not an IDX file"):
        debian.read_idx(tmp_path / "bad")


@pytest.mark.skipif(not os.environ.get("REQUIRE_DEBIAN_DATASETS") and not debian.available("fashion_mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it and sets "
                           "REQUIRE_DEBIAN_DATASETS, so CI never skips this)")
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    """The real package's files (the Xiao et al. 2018 driver's default data): 10,000 test
    images of 28 x 28 in [-1, 1], ten balanced classes, 6,000 validation images."""
    test_images, test_labels = data.as_numpy(data.load("fashion_mnist", "test", batch_size=1000,
                                                       data_dir=str(tmp_path / "no_tfds"), download=False))
    assert test_images.shape == (10_000, 28, 28, 1) and np.bincount(test_labels).tolist() == [1000] * 10
    assert test_images.min() == -1.0 and test_images.max() == 1.0
    _, validation_labels = data.as_numpy(data.load("fashion_mnist", "validation", batch_size=1000,
                                                   data_dir=str(tmp_path / "no_tfds"), download=False))
    assert len(validation_labels) == 6000


def test_token_votes_offline_sequences():
    from reproductions.data import tokens

    ids, labels = data.as_numpy(data.load("token_votes", "test", batch_size=50, num_examples=200))
    assert ids.shape == (200, tokens.LENGTH) and ids.dtype == np.int32 and labels.max() < tokens.CLASSES
    assert ids.min() >= 0 and ids.max() < tokens.VOCABULARY
    again, _ = data.as_numpy(data.load("token_votes", "test", batch_size=8, seed=3, num_examples=200))
    np.testing.assert_array_equal(ids, again)  # the fixed test set
    # The class's block holds a SHARE of the tokens beyond chance: counting recovers most labels.
    votes = np.stack([np.bincount(row // (tokens.VOCABULARY // tokens.CLASSES), minlength=tokens.CLASSES + 1)
                      for row in ids])[:, :tokens.CLASSES]
    assert np.mean(votes.argmax(1) == labels) > 0.9
    assert data.info("token_votes").dtype == "int32" and data.input_shape("token_votes") == (tokens.LENGTH,)
