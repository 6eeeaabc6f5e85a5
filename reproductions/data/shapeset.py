"""Shapeset-3x2, the synthetic dataset of Glorot & Bengio 2010, generated in numpy.

32x32 grey images holding one or two objects among {triangle, parallelogram,
ellipse}; the label says which shapes are present, ignoring order and occlusion:
3 single-shape classes + 6 unordered pairs (same-shape pairs included) = 9 classes.

What follows the paper (Sec. 2.1) and the authors' public generator: 1-2
objects, scale 0.2-0.8, full rotation, random shape parameters, translation, object
grey level in [0.55, 1.0] on a background in [0.0, 0.45], colours inverted with
probability 0.5, the second object overlapping the first by at most 50%, at most
50 rejection tries, pixels in [-1, 1].

Our choices, written down because the paper does not fix them:
* Classes are drawn uniformly, so the 9 classes are balanced in expectation.
* Scale s is the object's circumscribed radius over half the image width, so an
  object spans 2 * s * 16 pixels at most; it is translated uniformly so it stays
  inside the image.
* Triangle: vertices on the unit circle at angles 0, 120, 240 degrees, each
  jittered by U(-30, 30) degrees. Parallelogram: sides 1 and k ~ U(0.5, 1) at an
  angle ~ U(45, 135) degrees, normalised to circumradius 1. Ellipse: semi-axes 1
  and b ~ U(0.4, 1), rendered exactly (the authors approximated it by a 20-gon).
* A pixel belongs to an object if its centre is inside the shape (no anti-aliasing).
* Overlap: the pixels the two objects share are at most 50% of the *smaller*
  object's area, which satisfies both readings of the paper's rule. A second
  object violating it is redrawn (shape parameters and pose), up to 50 tries;
  an example still failing is redrawn whole.
* The second object is drawn on top of the first, each with its own grey level.
"""

import itertools

import numpy as np

IMAGE_SIZE = 32
SHAPES = ("triangle", "parallelogram", "ellipse")
# 3 single shapes, then the 6 unordered pairs (with repetition) in lexicographic order.
CLASS_SHAPES = tuple((s,) for s in range(3)) + tuple(
    itertools.combinations_with_replacement(range(3), 2)
)
CLASS_NAMES = tuple("+".join(SHAPES[s] for s in shapes) for shapes in CLASS_SHAPES)
NUM_CLASSES = len(CLASS_NAMES)

SCALE_RANGE = (0.2, 0.8)
FOREGROUND_GREY = (0.55, 1.0)
BACKGROUND_GREY = (0.0, 0.45)
INVERT_PROBABILITY = 0.5
MAX_OVERLAP = 0.5
MAX_TRIES = 50

# Pixel-centre coordinates along one axis.
_COORDS = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5


def class_of(shapes):
    """Class index of a collection of shape indices (order ignored)."""
    return CLASS_SHAPES.index(tuple(sorted(shapes)))


def _triangle_vertices(rng, n):
    angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(
        -np.pi / 6, np.pi / 6, size=(n, 3)
    )
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # counter-clockwise


def _parallelogram_vertices(rng, n):
    side = rng.uniform(0.5, 1.0, size=n)
    angle = rng.uniform(np.pi / 4, 3 * np.pi / 4, size=n)
    u = np.stack([np.ones(n), np.zeros(n)], axis=-1)
    v = np.stack([side * np.cos(angle), side * np.sin(angle)], axis=-1)
    corners = np.stack([np.zeros_like(u), u, u + v, v], axis=1) - ((u + v) / 2)[:, None]
    radius = np.linalg.norm(corners, axis=-1).max(axis=1)
    return corners / radius[:, None, None]  # counter-clockwise since cross(u, v) > 0


def _sample_objects(rng, shape_index, scale_range=SCALE_RANGE, centre_low=None, centre_high=None):
    """Random geometry for objects of the given shape indices (1-D int array).

    The centre is uniform over the positions that keep the object's circumscribed
    disc inside the image, intersected with [centre_low, centre_high] if given.
    """
    n = len(shape_index)
    scale = rng.uniform(*scale_range, size=n) * IMAGE_SIZE / 2
    rotation = rng.uniform(0, 2 * np.pi, size=n)
    low = np.repeat(scale[:, None], 2, axis=1)
    high = IMAGE_SIZE - low
    if centre_low is not None:
        low, high = np.maximum(low, centre_low), np.minimum(high, centre_high)
    centre = rng.uniform(low, high)
    vertices = np.zeros((n, 4, 2))
    triangles, parallelograms = shape_index == 0, shape_index == 1
    vertices[triangles, :3] = _triangle_vertices(rng, int(triangles.sum()))
    vertices[triangles, 3] = vertices[triangles, 2]  # degenerate 4th edge
    vertices[parallelograms] = _parallelogram_vertices(rng, int(parallelograms.sum()))
    minor_axis = rng.uniform(0.4, 1.0, size=n)
    grey = rng.uniform(*FOREGROUND_GREY, size=n)
    return {"shape": shape_index, "scale": scale, "rotation": rotation, "centre": centre,
            "vertices": vertices, "minor_axis": minor_axis, "grey": grey}


def render_masks(objects):
    """Boolean masks (n, IMAGE_SIZE, IMAGE_SIZE) of objects from `_sample_objects`.

    Every test is an affine or quadratic function of the pixel's x and y, so it
    is evaluated as broadcast sums of a row term and a column term in float32:
    a few operations per pixel and object, no per-pixel Python.
    """
    n = len(objects["shape"])
    coords = _COORDS
    cos = np.cos(objects["rotation"]).astype(np.float32)
    sin = np.sin(objects["rotation"]).astype(np.float32)
    radius = objects["scale"].astype(np.float32)
    centre = objects["centre"].astype(np.float32)
    masks = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)

    ellipses = np.flatnonzero(objects["shape"] == 2)
    if ellipses.size:
        # Local frame: u = R^T d / r; inside iff u_x^2 + (u_y / b)^2 <= 1, i.e.
        # a dx^2 + b dx dy + c dy^2 <= 1 with d = pixel - centre.
        c, s, r = cos[ellipses], sin[ellipses], radius[ellipses]
        inv_b2 = 1.0 / objects["minor_axis"][ellipses].astype(np.float32) ** 2
        coef_xx = (c * c + s * s * inv_b2) / r**2
        coef_yy = (s * s + c * c * inv_b2) / r**2
        coef_xy = 2 * c * s * (1 - inv_b2) / r**2
        dx = coords[None, None, :] - centre[ellipses, 0, None, None]  # (m, 1, W)
        dy = coords[None, :, None] - centre[ellipses, 1, None, None]  # (m, H, 1)
        quadratic = (coef_xx[:, None, None] * dx * dx + coef_yy[:, None, None] * dy * dy
                     + (coef_xy[:, None, None] * dx) * dy)
        masks[ellipses] = quadratic <= 1.0

    polygons = np.flatnonzero(objects["shape"] != 2)
    if polygons.size:
        # Vertices in image coordinates (rotation keeps them counter-clockwise).
        local = objects["vertices"][polygons].astype(np.float32)  # (m, 4, 2)
        c, s, r = cos[polygons, None], sin[polygons, None], radius[polygons, None]
        vx = centre[polygons, 0, None] + r * (c * local[..., 0] - s * local[..., 1])
        vy = centre[polygons, 1, None] + r * (s * local[..., 0] + c * local[..., 1])
        ex, ey = np.roll(vx, -1, axis=1) - vx, np.roll(vy, -1, axis=1) - vy
        # Convex polygon: inside iff cross(edge, pixel - vertex) >= 0 for every
        # edge, an affine function  -ey * x + ex * y + (ey * vx - ex * vy).
        inside = np.ones((polygons.size, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
        for k in range(local.shape[1]):
            row_term = (-ey[:, k, None, None]) * coords[None, None, :]
            column_term = ex[:, k, None, None] * coords[None, :, None] + (
                ey[:, k] * vx[:, k] - ex[:, k] * vy[:, k])[:, None, None]
            inside &= row_term + column_term >= 0
        masks[polygons] = inside
    return masks


def _overlap_ok(first, second):
    shared = np.logical_and(first, second).sum(axis=(1, 2))
    smaller = np.minimum(first.sum(axis=(1, 2)), second.sum(axis=(1, 2)))
    return shared <= MAX_OVERLAP * smaller


def _compose(rng, masks, greys):
    """Grey images in [-1, 1] from object masks drawn in order (later on top)."""
    n = len(masks[0])
    background = rng.uniform(*BACKGROUND_GREY, size=(n, 1, 1))
    images = np.broadcast_to(background, masks[0].shape).copy()
    for object_masks, grey in zip(masks, greys):
        images = np.where(object_masks, grey[:, None, None], images)
    invert = rng.random(n) < INVERT_PROBABILITY
    images[invert] = 1.0 - images[invert]
    return (2.0 * images - 1.0).astype(np.float32)[..., None]


def _check_num_examples(num_examples):
    if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)) or num_examples < 0:
        raise ValueError(f"`num_examples` must be a non-negative int. Received: num_examples={num_examples!r}")
    return int(num_examples)


def generate(num_examples, seed, return_masks=False):
    """Generates Shapeset-3x2 examples, bit-identical for the same seed.

    Args:
        num_examples: number of images.
        seed: int seed of the numpy generator.
        return_masks: also return the object masks and shape indices.

    Returns:
        `(images, labels)`: float32 `[n, 32, 32, 1]` in [-1, 1] and int64 `[n]` in
        `[0, 9)` (see `CLASS_NAMES`). With `return_masks`, a third item: a dict with
        `masks` bool `[n, 2, 32, 32]` (the second all-False for single objects) and
        `shapes` int `[n, 2]` (-1 for no second object).
    """
    n = _check_num_examples(num_examples)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, size=n)
    shapes = np.full((n, 2), -1, dtype=np.int64)
    for label, class_shapes in enumerate(CLASS_SHAPES):
        chosen = labels == label
        # Random order of the pair, so either shape may be the occluding one.
        ordered = np.tile(class_shapes, (int(chosen.sum()), 1))
        if len(class_shapes) == 2:
            swap = rng.random(len(ordered)) < 0.5
            ordered[swap] = ordered[swap][:, ::-1]
        shapes[chosen, : len(class_shapes)] = ordered

    first = _sample_objects(rng, shapes[:, 0])
    first_masks = render_masks(first)
    second_masks = np.zeros_like(first_masks)
    second_grey = np.zeros(n)
    pending = np.flatnonzero(shapes[:, 1] >= 0)
    tries = 0
    while pending.size:
        if tries == MAX_TRIES:  # still overlapping: redraw these examples whole
            redrawn = _sample_objects(rng, shapes[pending, 0])
            first_masks[pending] = render_masks(redrawn)
            first["grey"][pending] = redrawn["grey"]
            tries = 0
        candidate = _sample_objects(rng, shapes[pending, 1])
        masks = render_masks(candidate)
        ok = _overlap_ok(first_masks[pending], masks)
        second_masks[pending[ok]] = masks[ok]
        second_grey[pending[ok]] = candidate["grey"][ok]
        pending = pending[~ok]
        tries += 1

    images = _compose(rng, [first_masks, second_masks], [first["grey"], second_grey])
    if return_masks:
        return images, labels, {"masks": np.stack([first_masks, second_masks], axis=1),
                                "shapes": shapes}
    return images, labels


LOCATION_GRID = 3
# Smaller objects than Shapeset-3x2's 0.2-0.8, so that an object fits inside the
# image with its centre in a corner cell (radius <= 6.4 px < 32 / 3).
LOCATION_SCALE_RANGE = (0.2, 0.4)


def generate_location(num_examples, seed):
    """Shapeset-location: one Shapeset object per image; the label is the cell of a
    3x3 grid that holds the object's centre (9 balanced classes).

    The label is drawn first (uniformly), then the centre uniformly inside that
    cell among positions keeping the object inside the image. Same shapes, grey
    levels and inversion as `generate`, scale 0.2-0.4. An easier, where-task: a
    deep net can learn it in a few hundred updates, where the which-shapes task
    needs millions (Glorot & Bengio 2010). Our addition, for trainability
    experiments on a CPU budget (the He et al. 2015 reproduction).

    Returns:
        `(images float32 [n, 32, 32, 1] in [-1, 1], labels int64 [n] in [0, 9))`,
        label = row * 3 + column of the centre's cell.
    """
    n = _check_num_examples(num_examples)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, LOCATION_GRID**2, size=n)
    cell_size = IMAGE_SIZE / LOCATION_GRID
    cell_low = np.stack([labels % LOCATION_GRID, labels // LOCATION_GRID], axis=1) * cell_size
    objects = _sample_objects(rng, rng.integers(0, len(SHAPES), size=n), LOCATION_SCALE_RANGE,
                              cell_low, cell_low + cell_size)
    images = _compose(rng, [render_masks(objects)], [objects["grey"]])
    return images, labels


STREAM_CHUNK_SIZE = 8192  # examples generated at once by a stream (rounded to whole batches)


def stream_chunk_size(batch_size, chunk_size=STREAM_CHUNK_SIZE):
    """Examples per chunk of a stream of `batch_size` batches: `chunk_size` rounded down
    to whole batches, at least one batch."""
    return max(chunk_size - chunk_size % batch_size, batch_size)


def stream_chunk(generator, chunk_size, seed, chunk_index):
    """Chunk `chunk_index` of the stream of `seed`: `(images, labels)` drawn by `generator`
    with its own seed, `SeedSequence([seed, chunk_index])`."""
    return generator(chunk_size, np.random.SeedSequence([seed, chunk_index]))


def stream(batch_size, seed, chunk_size=STREAM_CHUNK_SIZE, generator=None):
    """Infinite online stream of `(images, labels)` batches, as in the paper.

    Chunk k is `stream_chunk(generator, size, seed, k)`: every chunk has its own seed
    derived from `seed` with `numpy.random.SeedSequence`, so the stream is
    reproducible and never repeats. Draw the test set from a different `seed`.
    `generator` (default `generate`) makes the chunks, e.g. `generate_location`.
    """
    generator = generator or generate
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    chunk_size = stream_chunk_size(batch_size, chunk_size)
    for chunk_index in itertools.count():
        images, labels = stream_chunk(generator, chunk_size, seed, chunk_index)
        for start in range(0, chunk_size, batch_size):
            yield images[start:start + batch_size], labels[start:start + batch_size]


def save_sample_grid(path, seed=0, rows=3, columns=9):
    """Saves a grid of examples, one class per column (like the paper's Figure 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, labels = generate(rows * columns * 20, seed)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5))
    for column, name in enumerate(CLASS_NAMES):
        examples = images[labels == column][:rows]
        for row in range(rows):
            axis = axes[row, column]
            axis.imshow(examples[row, ..., 0], cmap="gray", vmin=-1, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[0, column].set_title(name.replace("+", "+\n"), fontsize=8)
    figure.suptitle(f"Shapeset-3x2 samples (reproductions.data.shapeset.generate, seed={seed})",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Save a grid of Shapeset-3x2 samples.")
    parser.add_argument("output", help="PNG path")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    save_sample_grid(arguments.output, seed=arguments.seed)
    print(f"wrote {arguments.output}")
