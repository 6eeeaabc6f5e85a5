"""Token votes: an offline sequence-classification task for the transformers of the init
doctor's calibration panel (results/doctor).

Each of `CLASSES` classes owns a block of `VOCABULARY // CLASSES` token ids. A sequence of
class c draws each of its `LENGTH` tokens from c's block with probability `SHARE`, and
uniformly from the whole vocabulary otherwise; the label is c. A model learns it by counting
which block its tokens fall in (attention or pooling over the token embeddings), within a few
hundred updates when its initialization and learning rate suit it (a 12-block pre-LN
transformer of width 128 reached 91% test accuracy after 300 Adam updates at 1e-3 in a pilot;
chance is 1/9). Same interface as `shapeset.generate`: `(num_examples, seed) -> (tokens,
labels)`, so the online stream and the fixed evaluation sets work as for Shapeset.
"""

import numpy as np

VOCABULARY = 1000
LENGTH = 32
CLASSES = 9
SHARE = 0.3


def generate_votes(num_examples, seed):
    """`(tokens, labels)`: int32 token ids of shape (num_examples, LENGTH) and int64 labels
    in [0, CLASSES); `seed` an int or a `numpy.random.SeedSequence`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, num_examples)
    block = VOCABULARY // CLASSES
    tokens = rng.integers(0, VOCABULARY, (num_examples, LENGTH))
    own = rng.random((num_examples, LENGTH)) < SHARE
    tokens[own] = (labels[:, None] * block + rng.integers(0, block, (num_examples, LENGTH)))[own]
    return tokens.astype(np.int32), labels.astype(np.int64)
