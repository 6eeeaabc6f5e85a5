"""Shapeset-3x2 generator: classes, labels, geometry, overlap rule, pixel range, determinism."""

import math

import numpy as np
import pytest

from reproductions.data import shapeset


@pytest.fixture(scope="module")
def sample():
    return shapeset.generate(9000, seed=7, return_masks=True)


def test_shapes_dtypes_and_pixel_range(sample):
    images, labels, _ = sample
    assert images.shape == (9000, 32, 32, 1) and images.dtype == np.float32
    assert labels.shape == (9000,) and set(np.unique(labels)) == set(range(9))
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_nine_classes_named_and_balanced(sample):
    assert len(shapeset.CLASS_NAMES) == 9 == len(set(shapeset.CLASS_NAMES))
    assert shapeset.CLASS_NAMES[:3] == ("triangle", "parallelogram", "ellipse")
    _, labels, _ = sample
    counts = np.bincount(labels, minlength=9)
    expected = len(labels) / 9
    # Multinomial counts: std sqrt(n p (1 - p)); allow 5 std.
    assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected * 8 / 9)), counts


def test_labels_match_the_shapes_drawn(sample):
    _, labels, extra = sample
    shapes, masks = extra["shapes"], extra["masks"]
    for label, drawn, object_masks in zip(labels, shapes, masks):
        present = tuple(sorted(s for s in drawn if s >= 0))
        assert shapeset.CLASS_SHAPES[label] == present
        assert shapeset.class_of(present[::-1]) == label
        assert object_masks[0].any()
        assert object_masks[1].any() == (len(present) == 2)


def test_overlap_at_most_half_of_smaller_object(sample):
    _, _, extra = sample
    masks = extra["masks"]
    pairs = extra["shapes"][:, 1] >= 0
    shared = np.logical_and(masks[pairs, 0], masks[pairs, 1]).sum(axis=(1, 2))
    smaller = np.minimum(masks[pairs, 0].sum(axis=(1, 2)), masks[pairs, 1].sum(axis=(1, 2)))
    assert np.all(shared <= 0.5 * smaller)
    assert np.any(shared > 0)  # overlap does happen, within the rule


def test_grey_levels_of_objects_and_background(sample):
    images, _, extra = sample
    grey = (images[..., 0] + 1) / 2  # back to [0, 1]
    union = extra["masks"].any(axis=1)
    for image, objects in zip(grey[:500], union[:500]):
        background = image[~objects]
        foreground = image[objects]
        inverted = background.mean() > 0.5
        if inverted:
            background, foreground = 1 - background, 1 - foreground
        assert np.all(background <= 0.45 + 1e-6) and np.all(foreground >= 0.55 - 1e-6)
        assert np.ptp(background) < 1e-6  # one background level per image


def test_same_seed_same_data_bit_for_bit():
    first = shapeset.generate(300, seed=3)
    second = shapeset.generate(300, seed=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], shapeset.generate(300, seed=4)[0])


def _brute_force_masks(objects):
    """Independent per-pixel rendering in each object's own frame (slow, reference)."""
    masks = np.zeros((len(objects["shape"]), 32, 32), dtype=bool)
    for i in range(len(objects["shape"])):
        c, s = math.cos(objects["rotation"][i]), math.sin(objects["rotation"][i])
        for y in range(32):
            for x in range(32):
                dx, dy = x + 0.5 - objects["centre"][i][0], y + 0.5 - objects["centre"][i][1]
                u = (c * dx + s * dy) / objects["scale"][i]
                v = (-s * dx + c * dy) / objects["scale"][i]
                if objects["shape"][i] == 2:
                    inside = u * u + (v / objects["minor_axis"][i]) ** 2 <= 1
                else:
                    vertices = objects["vertices"][i]
                    inside = all(
                        (b[0] - a[0]) * (v - a[1]) - (b[1] - a[1]) * (u - a[0]) >= -1e-9
                        for a, b in zip(vertices, np.roll(vertices, -1, axis=0))
                    )
                masks[i, y, x] = inside
    return masks


def test_vectorized_rendering_matches_per_pixel_reference():
    rng = np.random.default_rng(0)
    objects = shapeset._sample_objects(rng, np.array([0, 1, 2] * 8))
    fast, reference = shapeset.render_masks(objects), _brute_force_masks(objects)
    # Pixels exactly on an edge may flip with float32 rounding: allow 1 per object.
    differing = (fast != reference).sum(axis=(1, 2))
    assert np.all(differing <= 1), differing


@pytest.mark.parametrize("shape_index", [0, 1, 2], ids=shapeset.SHAPES)
def test_rendered_area_matches_geometry(shape_index):
    # A known pose (radius 12 px, centred): the ellipse's area is pi r^2 b, the
    # polygons' comes from their vertices (shoelace formula).
    objects = shapeset._sample_objects(np.random.default_rng(1), np.array([shape_index]))
    objects.update(scale=np.array([12.0]), rotation=np.array([0.3]), centre=np.array([[16.0, 16.0]]))
    if shape_index == 2:
        area = math.pi * 12.0**2 * objects["minor_axis"][0]
    else:
        x, y = objects["vertices"][0, :, 0] * 12.0, objects["vertices"][0, :, 1] * 12.0
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    rendered = shapeset.render_masks(objects)[0].sum()
    assert abs(rendered - area) < 0.08 * area


def test_stream_is_reproducible_and_does_not_repeat():
    first = shapeset.stream(50, seed=1, chunk_size=100)
    second = shapeset.stream(50, seed=1, chunk_size=100)
    batches = [next(first) for _ in range(4)]
    for batch in batches:
        np.testing.assert_array_equal(batch[0], next(second)[0])
    assert batches[0][0].shape == (50, 32, 32, 1)
    assert not np.array_equal(batches[0][0], batches[2][0])  # chunk 2 differs from chunk 1


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_bad_arguments(bad):
    with pytest.raises(ValueError, match="num_examples"):
        shapeset.generate(bad, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        next(shapeset.stream(bad, seed=0))


def test_location_task_balanced_and_labelled_by_centre_cell():
    images, labels = shapeset.generate_location(4500, seed=2)
    counts = np.bincount(labels, minlength=9)
    assert np.all(np.abs(counts - 500) < 5 * math.sqrt(500 * 8 / 9)), counts
    assert images.min() >= -1 and images.max() <= 1
    cell = 32 / 3
    for image, label in zip(images[:300, ..., 0], labels[:300]):
        values, frequency = np.unique(image, return_counts=True)
        background = values[np.argmax(frequency)]
        ys, xs = np.nonzero(image != background)
        # The object's pixel centroid sits near its centre (exactly for ellipses and
        # parallelograms, within a fraction of the radius for triangles).
        row, column = divmod(int(label), 3)
        assert column * cell - 3 <= xs.mean() + 0.5 <= (column + 1) * cell + 3
        assert row * cell - 3 <= ys.mean() + 0.5 <= (row + 1) * cell + 3
