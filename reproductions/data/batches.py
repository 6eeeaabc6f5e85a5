"""The offline datasets as `keras.utils.PyDataset`s: the data path of every backend but
TensorFlow's (JAX, torch), which needs no TensorFlow.

`StreamBatches` serves batch i of the same infinite training stream as
`shapeset.stream` (the same chunks, `shapeset.stream_chunk`), indexed instead of
iterated, so both paths train on identical batches; `ArrayBatches` batches a fixed
evaluation set; `ShuffledArrayBatches` is the training stream of a fixed array (a
Debian package's Fashion-MNIST), reshuffled every epoch; `MemberBatches` zips streams
for a fused group of runs.
"""

import math

import keras
import numpy as np

from reproductions.data import shapeset


class StreamBatches(keras.utils.PyDataset):
    """Infinite stream of `(images, labels)` batches from a generator, by index."""

    def __init__(self, generator, batch_size, seed, flatten=False, chunk_size=shapeset.STREAM_CHUNK_SIZE):
        super().__init__()
        self.generator, self.batch_size, self.seed, self.flatten = generator, batch_size, seed, flatten
        # The same chunking as shapeset.stream, so batch i is the same batch there.
        self.chunk_size = shapeset.stream_chunk_size(batch_size, chunk_size)
        self._chunk_index, self._chunk = None, None

    @property
    def num_batches(self):
        return None  # infinite, as the paper's online stream

    def __getitem__(self, index):
        per_chunk = self.chunk_size // self.batch_size
        chunk_index, position = divmod(index, per_chunk)
        if chunk_index != self._chunk_index:
            self._chunk = shapeset.stream_chunk(self.generator, self.chunk_size, self.seed, chunk_index)
            self._chunk_index = chunk_index
        images, labels = self._chunk
        batch = slice(position * self.batch_size, (position + 1) * self.batch_size)
        images = images[batch]
        return (images.reshape(len(images), -1) if self.flatten else images), labels[batch]


class ArrayBatches(keras.utils.PyDataset):
    """A finite, fixed-order set of `(images, labels)` in batches."""

    def __init__(self, images, labels, batch_size, flatten=False):
        super().__init__()
        self.images = images.reshape(len(images), -1) if flatten else images
        self.labels, self.batch_size = labels, batch_size

    @property
    def num_batches(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[batch], self.labels[batch]


class ShuffledArrayBatches(keras.utils.PyDataset):
    """Infinite training stream over fixed arrays: epoch e visits every example once in the
    order of a permutation seeded by (seed, e), in full batches (the last partial batch of
    an epoch is dropped, as the tf.data path's `drop_remainder`). The order differs from
    the tf.data path's shuffle buffer; the examples are the same."""

    def __init__(self, images, labels, batch_size, seed, flatten=False):
        super().__init__()
        if len(labels) < batch_size:
            raise ValueError(f"Fewer examples than one batch. Received: examples={len(labels)}, "
                             f"batch_size={batch_size}")
        self.images = images.reshape(len(images), -1) if flatten else images
        self.labels, self.batch_size, self.seed = labels, batch_size, seed
        self._epoch, self._order = None, None

    @property
    def num_batches(self):
        return None  # infinite: the harness counts updates, not epochs

    def __getitem__(self, index):
        epoch, position = divmod(index, len(self.labels) // self.batch_size)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))
            self._epoch = epoch
        batch = self._order[position * self.batch_size:(position + 1) * self.batch_size]
        return self.images[batch], self.labels[batch]


class MemberBatches(keras.utils.PyDataset):
    """Batch i of several datasets at once, for a fused group of runs: `((images of each
    stream), {member key: labels of its stream})` (`reproductions.data.zip_members`)."""

    def __init__(self, streams, member_streams, member_keys):
        super().__init__()
        self.streams, self.member_streams, self.member_keys = list(streams), member_streams, member_keys

    @property
    def num_batches(self):
        counts = [s.num_batches for s in self.streams if s.num_batches is not None]
        return min(counts) if counts else None

    def __getitem__(self, index):
        batches = [stream[index] for stream in self.streams]
        return (tuple(images for images, _ in batches),
                {key: batches[stream][1] for key, stream in zip(self.member_keys, self.member_streams)})
