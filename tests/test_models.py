"""Tests of s4_minimal.models: chrono initialization against its distribution, and the
published MNIST-1D GRU and CNN against float64 NumPy loops and their parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import data, models


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _gru_numpy(p, xs):
    """One GRU over a list of input vectors, float64, the equations of torch.nn.GRU."""
    H = p["Wh"].shape[0]
    g = {name: slice(i * H, (i + 1) * H) for i, name in enumerate("rzn")}
    h, out = np.zeros(H), []
    for x in xs:
        gi, gh = x @ p["Wi"] + p["bi"], h @ p["Wh"] + p["bh"]
        r = _sig(gi[g["r"]] + gh[g["r"]])
        z = _sig(gi[g["z"]] + gh[g["z"]])
        n = np.tanh(gi[g["n"]] + r * gh[g["n"]])
        h = (1 - z) * n + z * h
        out.append(h)
    return out


def test_chrono_biases_are_log_uniform_on_1_to_T_minus_1():
    T, H = 1000, 20000
    b = np.asarray(models.chrono_bias(jax.random.PRNGKey(0), H, T), np.float64)
    u = np.sort(np.exp(b))
    assert u.min() >= 1 - 1e-4 and u.max() <= T - 1 + 1e-3       # float32 log/exp round trip
    # Kolmogorov-Smirnov distance to U[1, T-1]: measured 4.9e-3; the 0.1% critical value
    # for n = 20,000 is 1.95 / sqrt(n) = 1.4e-2.
    cdf = (u - 1) / (T - 2)
    ecdf = np.arange(1, H + 1) / H
    D = max(np.max(ecdf - cdf), np.max(cdf - (ecdf - 1 / H)))
    assert D < 1.95 / np.sqrt(H)
    # a unit of bias log u forgets over 1 / (1 - sigmoid(log u)) = 1 + u steps
    np.testing.assert_allclose(1 / (1 - _sig(b)), 1 + np.exp(b), rtol=1e-9)


def test_chrono_gru_differs_from_the_default_only_in_the_update_gate_biases():
    key = jax.random.PRNGKey(4)
    H, T = 7, 64
    plain = models.gru_init(key, 3, 2, H, n_layers=2)
    chrono = models.gru_init(key, 3, 2, H, n_layers=2, chrono=T)
    for a, b in zip(plain["gru"], chrono["gru"]):
        np.testing.assert_array_equal(a["Wi"], b["Wi"])
        np.testing.assert_array_equal(a["Wh"], b["Wh"])
        for name in ("bi", "bh"):
            np.testing.assert_array_equal(a[name][:H], b[name][:H])          # reset gate
            np.testing.assert_array_equal(a[name][2 * H:], b[name][2 * H:])  # candidate
        np.testing.assert_array_equal(b["bh"][H:2 * H], 0.0)
        u = np.exp(np.asarray(b["bi"][H:2 * H]))
        assert np.all((u >= 1 - 1e-5) & (u <= T - 1 + 1e-4))
    task = data.make_task("reach", L=T)
    built = models.build_model("gru-chrono", task, H, 8, 1).init(key)
    assert np.all(np.exp(np.asarray(built["gru"][0]["bi"][H:2 * H])) <= T - 1 + 1e-4)
    with pytest.raises(ValueError, match="'T_max'"):
        models.chrono_bias(key, 3, 2)


def test_published_mnist1d_gru_equals_a_float64_numpy_loop(x64):
    params = models.bigru_init(jax.random.PRNGKey(1), 1, 10, H=6, L=40)
    assert models.count_params(params) == 5134            # as the published model prints
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) * 2, params)
    u = np.random.default_rng(0).normal(size=(3, 40, 1))
    got = np.asarray(models.bigru_apply(params, jnp.asarray(u)))[:, 0]
    p = jax.tree_util.tree_map(np.asarray, params)
    want = []
    for row in u:
        fwd = _gru_numpy(p["fwd"], list(row))
        bwd = _gru_numpy(p["bwd"], list(row[::-1]))[::-1]
        states = np.concatenate([np.stack(fwd), np.stack(bwd)], axis=1)   # (40, 12)
        want.append(states.reshape(-1) @ p["linear"]["W"] + p["linear"]["b"])
    # measured 1.6e-15, bound 1e-12
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-12, atol=1e-12)


def test_published_mnist1d_cnn_equals_a_float64_numpy_loop(x64):
    params = models.cnn_init(jax.random.PRNGKey(2), 1, 10, channels=25, L=40)
    assert models.count_params(params) == 5210            # as the published model prints
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
    u = np.random.default_rng(1).normal(size=(2, 40, 1))
    got = np.asarray(models.cnn_apply(params, jnp.asarray(u)))[:, 0]
    p = jax.tree_util.tree_map(np.asarray, params)
    want = []
    for row in u:
        x = row                                             # (length, channels)
        for layer, (width, stride) in zip(p["conv"], [(5, 2), (3, 2), (3, 2)]):
            padded = np.pad(x, ((1, 1), (0, 0)))
            n_out = (len(padded) - width) // stride + 1
            y = np.zeros((n_out, layer["W"].shape[2]))
            for t in range(n_out):                          # y[t] = sum_k x[2t + k] W[k]
                for k in range(width):
                    y[t] += padded[stride * t + k] @ layer["W"][k]
            x = np.maximum(y + layer["b"], 0)
        assert x.shape == (5, 25)                           # 125 features, as published
        want.append(x.reshape(-1) @ p["linear"]["W"] + p["linear"]["b"])
    # measured 5.6e-17, bound 1e-12
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-12, atol=1e-12)


def test_models_reject_inputs_of_the_wrong_shape():
    with pytest.raises(ValueError, match="'u'"):
        models.bigru_apply(models.bigru_init(jax.random.PRNGKey(0)), jnp.zeros((2, 39, 1)))
    with pytest.raises(ValueError, match="'u'"):
        models.cnn_apply(models.cnn_init(jax.random.PRNGKey(0)), jnp.zeros((2, 40, 2)))
    with pytest.raises(ValueError, match="'model'"):
        models.build_model("lstm", data.make_task("mnist1d"), 8, 8, 1)
