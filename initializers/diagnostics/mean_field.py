"""Mean-field theory of signal propagation in deep random networks (numpy only).

For a fully connected net z^{l+1} = W^{l+1} phi(z^l) + b^{l+1} with
W_ij ~ N(0, sigma_w^2 / n) and b_i ~ N(0, sigma_b^2), in the limit of infinite width
(Poole et al. 2016, "Exponential expressivity in deep neural networks through
transient chaos"; Schoenholz et al. 2017, "Deep Information Propagation", Sec. 2-3):

* length map: q^{l+1} = sigma_w^2 E_z[phi(sqrt(q^l) z)^2] + sigma_b^2, z ~ N(0, 1); its
  fixed point is q* (`q_star`);
* correlation map: c^{l+1} = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*, with u1, u2
  of variance q* and correlation c^l; c = 1 is always a fixed point, stable iff
* chi_1 = sigma_w^2 E_z[phi'(sqrt(q*) z)^2] <= 1 (`chi_1`, the slope of the correlation
  map at c = 1, also the mean squared singular value of one layer's Jacobian):
  chi_1 < 1 is the ordered phase, chi_1 > 1 the chaotic one, where a second, stable
  fixed point c* < 1 exists;
* correlation depth: xi_c = -1 / ln(chi_c), chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at c*
  (`correlation_depth`); it diverges at the critical point chi_1 = 1
  (`critical_sigma_w2`). Schoenholz et al. find that a net trains iff its depth is
  below about 6 xi_c.

He et al. 2015's initialization is the critical point of ReLU (sigma_w^2 = 2 with
sigma_b^2 = 0: chi_1 = sigma_w^2 / 2 = 1); Glorot's normalized init of a square tanh
layer is the critical point of tanh without biases (sigma_w^2 = 1).

Gaussian expectations are computed by Gauss-Hermite quadrature (`QUADRATURE_POINTS`
nodes; a tensor product of `BIVARIATE_POINTS` nodes for the two-dimensional ones), not
by sampling.

Example:

>>> critical_sigma_w2("tanh", 0.05)        # about 1.76
>>> correlation_depth("tanh", 1.5, 0.05)   # ordered phase: finite
>>> q_star("relu", 1.0, 0.1), chi_1("relu", 2.0, 0.0)
"""

import functools
import math

import numpy as np

# Even counts: no node at 0, so with the symmetric nodes E[relu(z)^2] = 1/2 and
# E[relu'(z)^2] = 1/2 come out exact (the kink sits between nodes).
QUADRATURE_POINTS = 200
BIVARIATE_POINTS = 100
# Lengths searched for the fixed point q*: below the range q* counts as 0, above as inf.
_Q_RANGE = (1e-12, 1e12)


def _erf(x):
    return np.vectorize(math.erf, otypes=[float])(x)


# (phi, phi') of each named activation (ReLU's derivative at 0, never a node, as 1/2).
_ACTIVATIONS = {
    "linear": (lambda x: x, np.ones_like),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: np.heaviside(x, 0.5)),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "erf": (_erf, lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x)),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)),
                lambda x: np.exp(-x) / (1.0 + np.exp(-x)) ** 2),
    "softsign": (lambda x: x / (1.0 + np.abs(x)), lambda x: 1.0 / (1.0 + np.abs(x)) ** 2),
}
ACTIVATIONS = tuple(_ACTIVATIONS)


def _functions(activation):
    """(phi, phi') from a name or a `(phi, phi')` pair of numpy-vectorized callables."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Unknown activation; valid: {', '.join(ACTIVATIONS)}, or a (phi, "
                             f"derivative) pair of callables. Received: activation={activation!r}")
        return _ACTIVATIONS[activation]
    if (isinstance(activation, (tuple, list)) and len(activation) == 2
            and all(callable(f) for f in activation)):
        return tuple(activation)
    raise ValueError("`activation` must be a name or a (phi, derivative) pair of callables. "
                     f"Received: activation={activation!r}")


def _variances(sigma_w2, sigma_b2):
    for name, value in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    if not sigma_w2 > 0:
        raise ValueError(f"`sigma_w2` must be positive. Received: sigma_w2={sigma_w2!r}")
    return float(sigma_w2), float(sigma_b2)


@functools.lru_cache(maxsize=None)
def _rule(points):
    """Nodes and weights of E_z[f(z)], z ~ N(0, 1) (probabilists' Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    return nodes, weights / math.sqrt(2.0 * math.pi)


def gaussian_expectation(function, variance=1.0):
    """E[f(u)] for u ~ N(0, variance), by quadrature."""
    nodes, weights = _rule(QUADRATURE_POINTS)
    return float(np.dot(weights, function(math.sqrt(variance) * nodes)))


def bivariate_expectation(f, g, variance, correlation):
    """E[f(u1) g(u2)] for (u1, u2) zero-mean Gaussian, each of `variance`, with
    correlation `correlation` (tensor-product quadrature)."""
    nodes, weights = _rule(BIVARIATE_POINTS)
    c = float(np.clip(correlation, -1.0, 1.0))
    scale = math.sqrt(variance)
    z1, z2 = nodes[:, None], nodes[None, :]
    u1 = scale * z1
    u2 = scale * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
    return float(np.sum(weights[:, None] * weights[None, :] * f(u1) * g(u2)))


def length_map(activation, sigma_w2, sigma_b2, q):
    """q^{l+1} = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 (pre-activation variance)."""
    phi, _ = _functions(activation)
    sigma_w2, sigma_b2 = _variances(sigma_w2, sigma_b2)
    return sigma_w2 * gaussian_expectation(lambda u: phi(u) ** 2, q) + sigma_b2


def q_star(activation, sigma_w2, sigma_b2, q0=1.0):
    """Fixed point q* of the length map: its largest stable fixed point in (1e-12, 1e12).

    Found by scanning g(q) = length_map(q) - q on a log grid for the last change of
    sign from + to - and bisecting there. Returns 0.0 when the map shrinks every
    length towards 0 (e.g. tanh with sigma_b^2 = 0 and sigma_w^2 <= 1), `inf` when it
    grows every length without bound (ReLU with sigma_w^2 > 2, sigma_b^2 = 0), and
    `q0` when every length is a fixed point (ReLU at sigma_w^2 = 2, sigma_b^2 = 0).
    """
    return _q_star(*_key(activation, sigma_w2, sigma_b2), float(q0))


def _key(activation, sigma_w2, sigma_b2):
    _functions(activation)  # validates
    key = activation if isinstance(activation, str) else tuple(activation)
    return (key, *_variances(sigma_w2, sigma_b2))


@functools.lru_cache(maxsize=4096)
def _q_star(activation, sigma_w2, sigma_b2, q0):
    grid = np.geomspace(*_Q_RANGE, 241)  # 10 points per decade
    phi, _ = _functions(activation)
    nodes, weights = _rule(QUADRATURE_POINTS)
    second_moments = (phi(np.sqrt(grid)[:, None] * nodes[None, :]) ** 2) @ weights  # one pass
    gap = sigma_w2 * second_moments + sigma_b2 - grid
    if np.all(np.abs(gap) <= 1e-9 * grid):
        return q0  # every length maps to itself
    crossings = np.flatnonzero((gap[:-1] > 0) & (gap[1:] <= 0))
    if crossings.size == 0:
        return 0.0 if gap[-1] < 0 else math.inf
    low, high = grid[crossings[-1]], grid[crossings[-1] + 1]
    return _log_bisect(lambda q: length_map(activation, sigma_w2, sigma_b2, q) - q <= 0, low, high)


def _log_bisect(above, low, high, relative=1e-13):
    """The point in [low, high] (both > 0) where the predicate `above` turns from False to
    True, by bisection on a log scale."""
    for _ in range(200):
        middle = math.sqrt(low * high)
        if above(middle):
            high = middle
        else:
            low = middle
        if high / low < 1 + relative:
            break
    return math.sqrt(low * high)


def _at(q):
    # q* = 0 or inf: the limits q -> 0+ and q -> inf (a homogeneous activation such as
    # ReLU has the same chi at every scale; a smooth one tends to phi'(0) as q -> 0).
    return min(max(q, _Q_RANGE[0]), _Q_RANGE[1])


def chi_1(activation, sigma_w2, sigma_b2):
    """chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: slope of the correlation map at c = 1."""
    _, derivative = _functions(activation)
    q = _at(q_star(activation, sigma_w2, sigma_b2))
    return float(sigma_w2) * gaussian_expectation(lambda u: derivative(u) ** 2, q)


def correlation_map(activation, sigma_w2, sigma_b2, c, q=None):
    """c^{l+1} = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*, (u1, u2) of variance q*
    and correlation c."""
    phi, _ = _functions(activation)
    q = _at(q_star(activation, sigma_w2, sigma_b2) if q is None else q)
    return (float(sigma_w2) * bivariate_expectation(phi, phi, q, c) + float(sigma_b2)) / q


def c_star(activation, sigma_w2, sigma_b2):
    """The stable fixed point of the correlation map: 1 in the ordered phase (chi_1 <= 1),
    the fixed point c* < 1 in the chaotic phase (found by bisection)."""
    if chi_1(activation, sigma_w2, sigma_b2) <= 1.0:
        return 1.0
    q = _at(q_star(activation, sigma_w2, sigma_b2))
    gap = lambda c: correlation_map(activation, sigma_w2, sigma_b2, c, q) - c
    low, high = -1.0, 1.0 - 1e-9
    if gap(low) <= 0:  # the map sends -1 at or below itself: search from 0
        low = 0.0
        if gap(low) <= 0:
            return low
    for _ in range(200):  # gap(low) > 0 > gap(high) (chaotic: slope chi_1 > 1 at c = 1)
        middle = 0.5 * (low + high)
        low, high = (middle, high) if gap(middle) > 0 else (low, middle)
        if high - low < 1e-13:
            break
    return 0.5 * (low + high)


def chi_c(activation, sigma_w2, sigma_b2):
    """chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at the stable correlation c* (= chi_1 when
    ordered)."""
    _, derivative = _functions(activation)
    c = c_star(activation, sigma_w2, sigma_b2)
    if c == 1.0:
        return chi_1(activation, sigma_w2, sigma_b2)
    q = _at(q_star(activation, sigma_w2, sigma_b2))
    return float(sigma_w2) * bivariate_expectation(derivative, derivative, q, c)


def correlation_depth(activation, sigma_w2, sigma_b2):
    """xi_c = -1 / ln(chi_c), in layers: how deep correlations between inputs survive;
    `inf` at the critical point (and in a chaotic phase where chi_c reaches 1)."""
    value = chi_c(activation, sigma_w2, sigma_b2)
    if value >= 1.0:
        return math.inf
    if value <= 0.0:
        return 0.0
    return -1.0 / math.log(value)


def critical_sigma_w2(activation, sigma_b2, low=1e-3, high=100.0):
    """The sigma_w^2 at which chi_1 = 1 (the edge of chaos), by bisection on a log scale.

    Raises:
        ValueError: when chi_1 - 1 does not change sign between `low` and `high`.
    """
    excess = lambda s: chi_1(activation, s, sigma_b2) - 1.0
    below, above = excess(low), excess(high)
    if below > 0 or above < 0:
        raise ValueError(f"chi_1 does not cross 1 for sigma_w2 in [{low}, {high}] "
                         f"(chi_1 - 1 = {below:.3g} and {above:.3g}). Received: "
                         f"activation={activation!r}, sigma_b2={sigma_b2!r}")
    return _log_bisect(lambda s: excess(s) > 0, low, high, relative=1e-12)
