"""Singular values of the layer-to-layer Jacobians of a Dense chain (Glorot & Bengio
2010, Sec. 4.2.2: about 0.5 on average with the "standard" init vs 0.8 with the
normalized init, tanh)."""

import keras
import numpy as np

from initializers.diagnostics.probing import layer_activations, probes

# Derivative of each elementwise activation written from its *output* h = phi(z),
# which is what the probes record: J = diag(phi'(z)) W^T needs only h.
DERIVATIVE_FROM_OUTPUT = {
    "linear": lambda h: np.ones_like(h),
    "tanh": lambda h: 1.0 - h**2,
    "sigmoid": lambda h: h * (1.0 - h),
    "softsign": lambda h: (1.0 - np.abs(h)) ** 2,
    "relu": lambda h: (h > 0).astype(h.dtype),
}


def check_derivative_rule(probe):
    """Raises a ValueError naming the layer unless its probed signal is h = phi(W x + b)
    with a known derivative rule: phi applied by the layer itself or by an activation
    layer reading its output directly (no BatchNormalization, pooling, ... between)."""
    if probe.activation not in DERIVATIVE_FROM_OUTPUT:
        raise ValueError(f"No derivative rule for activation {probe.activation!r}; known: "
                         f"{sorted(DERIVATIVE_FROM_OUTPUT)}. Received: layer={probe.weight_layer.name}")
    check_applied_directly(probe)


def check_applied_directly(probe):
    """Raises a ValueError unless the probe's activation is applied to the weight
    layer's output directly (by the layer itself or by the layer reading its output)."""
    if probe.output_layer is not probe.weight_layer and (
            probe.output_layer.input is not probe.weight_layer.output):
        raise ValueError(f"Layer '{probe.weight_layer.name}' reaches its activation through other "
                         f"layers ('{probe.output_layer.name}' does not read its output directly); the "
                         "exact numpy rules (Jacobian, numpy backpropagation) need h = phi(W x + b). "
                         f"Received: layer={probe.weight_layer.name}")


def _mean_singular_values(kernel, derivatives):
    """Per example: mean singular value of J = diag(derivative) kernel^T.

    `kernel` has shape [n_in, n_out], `derivatives` [examples, n_out]. The singular
    values are the square roots of the eigenvalues of the smaller Gram matrix
    (J J^T or J^T J); a symmetric eigensolver on it is ~2.5x faster than an SVD of J
    at width 1000 and agrees with it to ~1e-13 in the mean.
    """
    n_in, n_out = kernel.shape
    shared = kernel.T @ kernel if n_out <= n_in else None
    means = []
    for d in derivatives:
        gram = d[:, None] * shared * d[None, :] if shared is not None else (kernel * d**2) @ kernel.T
        means.append(float(np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).mean()))
    return means


def jacobian_singular_values(model, inputs, max_examples=32):
    """Mean singular value of each layer-to-layer Jacobian dh_i / dh_{i-1}.

    For consecutive `Dense` layers with elementwise activations,
    J_i(x) = diag(phi'(z_i(x))) W_i^T, computed exactly from the weights and
    the recorded activations (phi' written from h = phi(z)). The mean over the
    singular values of J_i(x) is averaged over up to `max_examples` examples:
    the number Glorot & Bengio 2010 report per layer (Sec. 4.2.2).

    Returns:
        A list of dicts `{"layer", "activation", "mean_singular_value", "std_over_examples"}`
        for every Dense layer after the first of a run of Dense layers.

    Raises:
        ValueError: for a model with fewer than two Dense layers, or an
            activation without a known derivative.
    """
    model_probes = [p for p in probes(model) if isinstance(p.weight_layer, keras.layers.Dense)]
    if len(model_probes) < 2:
        raise ValueError("jacobian_singular_values needs at least two Dense layers. "
                         f"Received: model={model.name}")
    values = layer_activations(model, inputs, model_probes)
    results = []
    for probe, output in zip(model_probes[1:], values[1:]):
        check_derivative_rule(probe)
        kernel = keras.ops.convert_to_numpy(probe.weight_layer.kernel).astype(np.float64)
        derivative = DERIVATIVE_FROM_OUTPUT[probe.activation](output[:max_examples])
        per_example = _mean_singular_values(kernel, derivative)
        results.append({"layer": probe.weight_layer.name, "activation": probe.activation,
                        "mean_singular_value": float(np.mean(per_example)),
                        "std_over_examples": float(np.std(per_example))})
    return results


def _shifted(maps, dy, dx, circular):
    """`maps` (..., H, W, C) moved by (dy, dx) along H and W: wrapped around (circular
    padding) or filled with zeros (zero padding)."""
    moved = np.roll(maps, (dy, dx), axis=(-3, -2))
    if not circular:
        if dy > 0:
            moved[..., :dy, :, :] = 0
        elif dy < 0:
            moved[..., dy:, :, :] = 0
        if dx > 0:
            moved[..., :, :dx, :] = 0
        elif dx < 0:
            moved[..., :, dx:, :] = 0
    return moved


def _convolve(maps, kernel, circular):
    """Stride-1 convolution of `maps` (..., H, W, C_in) with `kernel` (k, k, C_in, C_out) as
    `keras.ops.conv` computes it on a padded input: out[i, j] = sum_ab x[i + a - k//2,
    j + b - k//2] @ kernel[a, b]."""
    half = kernel.shape[0] // 2
    out = 0.0
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            out = out + _shifted(maps, half - a, half - b, circular) @ kernel[a, b]
    return out


def stacked_jacobian_spectra(kernels, biases, x, depths, activation="tanh", padding="circular"):
    """Singular values of the input-output Jacobian of a stack of identical convolution
    layers x -> phi(conv(x, W_l) + b_l), l = 1..d, at one input map, for each d in `depths`.

    The dynamical isometry of Pennington et al. 2017 and Xiao et al. 2018 (Sec. 2-3): with
    orthogonal (delta-orthogonal) kernels at the critical point the singular values stay
    concentrated near 1 at any depth; with Gaussian kernels their spread grows with depth.
    Exact, in float64: the Jacobian J_d = D_d C_d ... D_1 C_1 (C_l the convolution as a
    matrix on the flattened H x W x C map, D_l = diag(phi'(pre-activation))) is carried
    forward as the image of every basis vector at once, then each requested J_d is
    decomposed. Cost: depth x (H W C)^2 x 9 C multiply-adds; keep H W C small (e.g.
    4 x 4 x 16 = 256).

    Args:
        kernels: (depth, k, k, C, C) array, e.g. `StackedConvolution.kernel`.
        biases: (depth, C) array.
        x: the stack's input, one map (H, W, C).
        depths: the depths at which to read J (each <= the stack's depth).
        activation: a name in `DERIVATIVE_FROM_OUTPUT`.
        padding: "circular" (Xiao et al.) or "same" (zeros).

    Returns:
        {depth: singular values of J_depth, descending (numpy float64)}.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    biases = np.asarray(biases, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if activation not in DERIVATIVE_FROM_OUTPUT:
        raise ValueError(f"No derivative rule for activation {activation!r}; known: "
                         f"{sorted(DERIVATIVE_FROM_OUTPUT)}. Received: activation={activation!r}")
    if padding not in ("circular", "same"):
        raise ValueError(f"`padding` must be 'circular' or 'same'. Received: padding={padding!r}")
    depths = sorted(set(int(d) for d in depths))
    if not depths or depths[0] < 1 or depths[-1] > len(kernels) or x.shape[-1] != kernels.shape[-1]:
        raise ValueError(f"`depths` must lie in 1..{len(kernels)} and x have {kernels.shape[-1]} channels. "
                         f"Received: depths={depths}, x.shape={x.shape}")
    phi = {"linear": lambda z: z, "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
           "softsign": lambda z: z / (1 + np.abs(z)), "relu": lambda z: np.maximum(z, 0)}[activation]
    size = x.size
    tangents = np.eye(size).reshape(size, *x.shape)  # row i: the image of basis vector i
    circular = padding == "circular"
    spectra = {}
    for layer in range(depths[-1]):
        x = phi(_convolve(x, kernels[layer], circular) + biases[layer])
        tangents = DERIVATIVE_FROM_OUTPUT[activation](x) * _convolve(tangents, kernels[layer], circular)
        if layer + 1 in depths:
            spectra[layer + 1] = np.linalg.svd(tangents.reshape(size, size), compute_uv=False)
    return spectra
