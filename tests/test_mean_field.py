"""Mean-field theory: known critical points, closed forms, and a Monte-Carlo wide network."""

import math

import numpy as np
import pytest

from initializers.diagnostics import mean_field as mf


def test_critical_points_of_relu_and_tanh():
    # He et al. 2015's init is ReLU's critical point; tanh without biases is critical at 1.
    assert mf.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-9)
    assert mf.critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-6)
    # Schoenholz et al. 2017's setting: sigma_b^2 = 0.05 is critical near sigma_w^2 = 1.76.
    assert mf.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.01)
    assert mf.chi_1("tanh", mf.critical_sigma_w2("tanh", 0.05), 0.05) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("sigma_w2", [0.5, 1.0, 2.0, 3.0])
def test_relu_chi_1_is_half_sigma_w2(sigma_w2):
    assert mf.chi_1("relu", sigma_w2, 0.0) == pytest.approx(sigma_w2 / 2, rel=1e-12)


def test_closed_forms_of_the_length_map():
    # ReLU: q* = sigma_b^2 / (1 - sigma_w^2 / 2) below sigma_w^2 = 2; every q is fixed at 2.
    assert mf.q_star("relu", 1.0, 0.1) == pytest.approx(0.2, rel=1e-9)
    assert mf.q_star("relu", 2.0, 0.0, q0=3.0) == 3.0
    assert mf.q_star("relu", 2.5, 0.0) == math.inf and mf.q_star("relu", 1.5, 0.0) == 0.0
    # erf: E[erf(sqrt(q) z)^2] = (2 / pi) arcsin(2q / (1 + 2q)).
    for q in (0.1, 1.0, 7.0):
        expected = 1.3 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + 0.2
        assert mf.length_map("erf", 1.3, 0.2, q) == pytest.approx(expected, rel=1e-6)  # quadrature
    # tanh without biases below its critical point: every signal decays to 0.
    assert mf.q_star("tanh", 0.9, 0.0) == 0.0


def test_phases_and_correlation_depth():
    critical = mf.critical_sigma_w2("tanh", 0.05)
    assert mf.c_star("tanh", 1.5, 0.05) == 1.0                 # ordered
    assert 0.0 < mf.c_star("tanh", 3.0, 0.05) < 1.0            # chaotic
    ordered, chaotic = mf.correlation_depth("tanh", 1.5, 0.05), mf.correlation_depth("tanh", 3.0, 0.05)
    near = mf.correlation_depth("tanh", critical * 1.001, 0.05)
    assert ordered == pytest.approx(-1 / math.log(mf.chi_1("tanh", 1.5, 0.05)))
    assert near > 10 * max(ordered, chaotic)                   # diverges at the critical point
    assert mf.correlation_map("tanh", 3.0, 0.05, mf.c_star("tanh", 3.0, 0.05)) == pytest.approx(
        mf.c_star("tanh", 3.0, 0.05), abs=1e-9)


def test_callable_activation_equals_named():
    pair = (np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    assert mf.q_star(pair, 2.0, 0.05) == pytest.approx(mf.q_star("tanh", 2.0, 0.05))
    assert mf.correlation_depth(pair, 2.5, 0.05) == pytest.approx(mf.correlation_depth("tanh", 2.5, 0.05))


@pytest.mark.parametrize("activation, sigma_w2, sigma_b2", [("tanh", 1.5, 0.05), ("tanh", 3.0, 0.05),
                                                           ("relu", 1.6, 0.2)])
def test_q_star_and_chi_1_match_a_wide_random_network(activation, sigma_w2, sigma_b2):
    # Propagate 32 inputs and a tangent vector per input through 40 layers of width 2000
    # with W ~ N(0, sigma_w^2 / n), b ~ N(0, sigma_b^2): the pre-activations' second
    # moment settles at q*, and the squared norm of a tangent vector grows by chi_1 per
    # layer (chi_1 is the mean squared singular value of one layer's Jacobian).
    phi, derivative = mf._functions(activation)
    rng = np.random.default_rng(0)
    width, depth, burn_in, inputs = 2000, 40, 15, 32
    z = rng.standard_normal((inputs, width))
    tangent = rng.standard_normal((inputs, width))
    q_values, growth = [], []
    for layer in range(depth):
        weights = rng.standard_normal((width, width)) * math.sqrt(sigma_w2 / width)
        bias = rng.standard_normal(width) * math.sqrt(sigma_b2)
        new_tangent = (derivative(z) * tangent) @ weights
        z = phi(z) @ weights + bias
        if layer >= burn_in:
            q_values.append(np.mean(z**2, axis=1))
            growth.append(np.sum(new_tangent**2, axis=1) / np.sum(tangent**2, axis=1))
        tangent = new_tangent / np.linalg.norm(new_tangent, axis=1, keepdims=True) * math.sqrt(width)
    q_values, growth = np.array(q_values), np.array(growth)
    # Standard errors from the spread over (layer, input) samples; layers are correlated, so
    # allow 6 of them and a 2% finite-width bias (corrections are O(1/n)).
    for measured, theory in ((q_values, mf.q_star(activation, sigma_w2, sigma_b2)),
                             (growth, mf.chi_1(activation, sigma_w2, sigma_b2))):
        error = 6 * measured.std() / math.sqrt(measured.shape[0]) + 0.02 * theory
        assert abs(measured.mean() - theory) < error, (measured.mean(), theory)


@pytest.mark.parametrize("call, message", [
    (lambda: mf.q_star("mish", 1.0, 0.0), "valid: linear, relu, tanh, erf"),
    (lambda: mf.chi_1("tanh", -1.0, 0.0), "sigma_w2"),
    (lambda: mf.chi_1("tanh", 1.0, float("nan")), "sigma_b2"),
    (lambda: mf.critical_sigma_w2("linear", 0.1, high=0.5), "does not cross 1"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
