"""Higher-order gradients on every Keras backend, for the learned initializations.

Keras 3 has no public `grad`, and GradInit's constraint and MetaInit's gradient quotient
differentiate a gradient (MetaInit: a Hessian-vector product, so a third derivative).
`value_and_grad(f)` returns a function whose result can be differentiated again by an
enclosing `value_and_grad` on the same backend:

* JAX: `jax.value_and_grad` (composes by construction);
* TensorFlow: a `GradientTape` per level; the inner `tape.gradient` runs inside the
  outer tape's context, which records it;
* PyTorch: `torch.autograd.grad(..., create_graph=True)`.

`compiled(f)` traces a function once per input signature (`jax.jit`, `tf.function`;
PyTorch runs eagerly). Each backend is imported only when it is the one running.
"""

import importlib

import keras


def backend_name():
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError("Learned initializations need the tensorflow, jax or torch backend. "
                         f"Received: backend={backend!r}")
    return backend


def value_and_grad(f, has_aux=False):
    """`(first, *rest) -> (f(first, *rest), d f / d first)`, differentiable again.

    `first` is a tensor or a list of tensors (the gradient has the same structure; a
    tensor `f` does not depend on gets zeros); with `has_aux`, `f` returns
    `(value, aux)` and only `value` is differentiated.
    """
    backend = backend_name()
    if backend == "jax":
        return importlib.import_module("jax").value_and_grad(f, has_aux=has_aux)
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")

        def tf_value_and_grad(first, *rest):
            with tf.GradientTape() as tape:
                tape.watch(first)
                out = f(first, *rest)
            value = out[0] if has_aux else out
            return out, tape.gradient(value, first, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return tf_value_and_grad
    torch = importlib.import_module("torch")

    def torch_value_and_grad(first, *rest):
        single = not isinstance(first, (list, tuple))
        leaves = [first] if single else list(first)
        # A tensor that an enclosing level differentiates already requires grad: keep it
        # in that graph; a constant becomes a leaf of this one.
        leaves = [t if t.requires_grad else t.detach().requires_grad_(True) for t in leaves]
        out = f(leaves[0] if single else leaves, *rest)
        value = out[0] if has_aux else out
        grads = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
        return out, grads[0] if single else grads
    return torch_value_and_grad


def compiled(f, tensorflow_graph=True):
    """`f` traced and compiled once per input signature (PyTorch: `f` itself).

    `tensorflow_graph=False` runs `f` eagerly under TensorFlow: a third derivative
    through convolutions (MetaInit's) fails to trace there (TensorFlow 2.21: "nodes in
    a cycle" when the graph is built), while eager tapes compute it.
    """
    backend = backend_name()
    if backend == "jax":
        return importlib.import_module("jax").jit(f)
    if backend == "tensorflow" and tensorflow_graph:
        return importlib.import_module("tensorflow").function(f, reduce_retracing=True)
    return f


def stop_gradient(values):
    return [keras.ops.stop_gradient(v) for v in values]
