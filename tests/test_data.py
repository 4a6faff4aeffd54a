"""Tests of s4_minimal.data: seeded batches, the reach task's dependency structure, the
copying task against its definition, batches generated on the device, MNIST-1D."""

import random

import jax
import numpy as np
import pytest

from s4_minimal import data


def test_recall_batches_are_a_function_of_seed_and_index():
    a = data.recall_batch(3, 7, 4, 256)
    b = data.recall_batch(3, 7, 4, 256)
    c = data.recall_batch(3, 8, 4, 256)
    d = data.recall_batch(4, 7, 4, 256)
    e = data.recall_batch(3, 7, 4, 256, eval_set=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for other in (c, d, e):
        assert not np.array_equal(a[0], other[0])


def test_recall_answer_is_the_cue_at_least_seven_eighths_of_L_back():
    L, K, noise = 512, 5, 6
    span = L // 16
    x, y, p = data.recall_batch(0, 0, 64, L, K, noise, with_position=True)
    assert x.shape == (64, L, K + noise) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x.sum(-1), 1.0)                 # one-hot everywhere
    tokens = x.argmax(-1)
    assert np.all((0 <= p) & (p < span))
    is_class = tokens < K
    last_cue = L - 1 - np.argmax(is_class[:, ::-1], axis=1)
    np.testing.assert_array_equal(last_cue, p + span - 1)         # the cue ends before L/8 ...
    assert np.all(last_cue < L // 8)
    assert np.all(L - 1 - last_cue >= L - L // 8)                 # ... 7L/8 steps before the readout
    assert np.all(is_class.sum(1) == span)                        # the only class tokens
    for b in range(64):
        np.testing.assert_array_equal(tokens[b, p[b]:p[b] + span], y[b])   # the label is the cue
    assert len(np.unique(y)) == K                                 # every class occurs
    assert len(np.unique(tokens[~is_class])) == noise             # every noise symbol occurs


def test_recall_with_silence_between():
    x, y, p = data.recall_batch(0, 1, 8, 128, 3, 0, with_position=True)
    assert x.shape == (8, 128, 3)
    np.testing.assert_array_equal(x.sum((1, 2)), 128 // 16)       # the cue alone, L/16 steps
    np.testing.assert_array_equal(x[np.arange(8), p].argmax(-1), y)


@pytest.mark.parametrize("kwargs, name", [
    ({"L": 8}, "L"), ({"batch": 0}, "batch"), ({"n_classes": 1}, "n_classes"),
    ({"seed": -1}, "seed"), ({"L": 2.5}, "L")])
def test_recall_rejects_bad_arguments_by_name(kwargs, name):
    args = {"seed": 0, "index": 0, "batch": 2, "L": 64, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"'{name}'"):
        data.recall_batch(**args)


def test_task_batches_for_recall():
    task = data.make_task("recall", L=128, n_classes=4, n_noise=2)
    assert (task.L, task.d_input, task.d_output, task.kind, task.readout) == (128, 6, 4,
                                                                             "classify", "last")
    x, y = task.train_batch(5, 3, 8)
    np.testing.assert_array_equal(x, data.recall_batch(5, 3, 8, 128, 4, 2)[0])
    batches, n = task.eval_batches(5, 8, n_eval=20)
    assert n == 20 and len(batches) == 3
    assert not np.array_equal(batches[0][0], x)


def test_make_task_rejects_bad_options():
    with pytest.raises(ValueError, match="'name'"):
        data.make_task("cifar")
    with pytest.raises(ValueError, match="'L'"):
        data.make_task("mnist1d", L=100)
    with pytest.raises(ValueError, match="'L'"):
        data.make_task("recall", L=10)


@pytest.fixture(scope="module")
def small_mnist1d():
    return data.mnist1d_arrays(num_samples=200)


def test_mnist1d_shapes_labels_and_no_global_seed(small_mnist1d):
    np.random.seed(123)
    random.seed(123)
    before, py_before = np.random.get_state()[1].copy(), random.getstate()
    d = data.mnist1d_arrays(num_samples=200, seed=7)       # not cached: generates
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert random.getstate() == py_before
    assert d["x"].shape == (160, 40, 1) and d["x_test"].shape == (40, 40, 1)
    assert d["x"].dtype == np.float32 and d["y"].dtype == np.int32
    assert set(np.unique(d["y"])) <= set(range(10))
    assert abs(float(np.concatenate([d["x"], d["x_test"]]).std()) - 1) < 1e-3  # standardized
    again = data._mnist1d_cached.__wrapped__(False, 200, 7)
    np.testing.assert_array_equal(again["x"], d["x"])       # deterministic for a seed
    with pytest.raises(ValueError):
        d["x"][0, 0, 0] = 1.0                               # read-only (shared cache)


def test_mnist1d_shuffle_permutes_time_once():
    plain = data.mnist1d_arrays(num_samples=100)
    mixed = data.mnist1d_arrays(shuffle=True, num_samples=100)
    # The same signals with one permutation of the 40 time steps for all of them.
    a, b = plain["x"][:, :, 0], mixed["x"][:, :, 0]
    order = [int(np.argmin(np.abs(a - b[:, [j]]).sum(0))) for j in range(40)]
    np.testing.assert_allclose(a[:, order], b, atol=1e-6)
    assert order != list(range(40))


def test_mnist1d_tasks_batch_without_replacement(small_mnist1d):
    task = data.Task("mnist1d", 40, 1, 10, "classify", "mean", n_classes=10, num_samples=200)
    x, y = task.train_batch(0, 4, 32)
    x2, _ = task.train_batch(0, 4, 32)
    np.testing.assert_array_equal(x, x2)
    rows = {tuple(r) for r in x[:, :, 0]}
    assert len(rows) == 32
    batches, n = task.eval_batches(0, 16)
    assert n == 40 and sum(len(b[1]) for b in batches) == 48     # last batch padded
    nxt = data.Task("mnist1d-next", 39, 1, 1, "next", "all", num_samples=200)
    u, target = nxt.train_batch(0, 4, 8)
    np.testing.assert_array_equal(u[:, 1:], target[:, :-1])       # target is the input, one step on
    with pytest.raises(ValueError, match="'batch'"):
        task.train_batch(0, 0, 1000)


def test_mnist1d_rejects_bad_arguments():
    with pytest.raises(TypeError, match="'shuffle'"):
        data.mnist1d_arrays(shuffle="yes")
    with pytest.raises(ValueError, match="'num_samples'"):
        data.mnist1d_arrays(num_samples=10)


# --- the reach task as tokens, the copying task, batches generated on the device ---

def test_reach_tokens_are_the_one_hot_batches_as_integers():
    tokens, labels, where = data.reach_tokens(2, 5, 6, 128, 4, 3)
    x, y, p = data.recall_batch(2, 5, 6, 128, 4, 3, with_position=True)
    np.testing.assert_array_equal(np.eye(7, dtype=np.float32)[tokens], x)
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_array_equal(where, p)
    # silence (n_noise = 0) is token n_classes, which one-hot encodes to zeros
    task = data.make_task("reach", L=64, n_classes=3, n_noise=0)
    tok, _ = task.train_tokens(0, 0, 4)
    np.testing.assert_array_equal(np.asarray(task.embed(tok)), task.train_batch(0, 0, 4)[0])


def test_recall_is_the_older_name_of_reach():
    assert data.make_task("recall", L=128) == data.make_task("reach", L=128)
    assert data.make_task("recall").name == "reach"


def test_reach_is_solved_by_counting_symbols_in_any_order():
    # Class tokens occur only in the cue: the class seen most often, counted over the
    # whole sequence with its time axis shuffled, is the label every time.
    x, y = data.recall_batch(0, 0, 256, 256, 8, 8)
    shuffled = x[:, np.random.default_rng(0).permutation(256)]
    assert np.all(shuffled[:, :, :8].sum(1).argmax(1) == y)


def _check_copy_definition(tokens, string, L, K, n_classes):
    """The copying task's definition, checked one sequence and one step at a time."""
    blank, marker = n_classes, n_classes + 1
    for row, s in zip(tokens, string):
        for k in range(L):
            if k < K:
                assert row[k] == s[k] and 0 <= s[k] < n_classes
            elif k == L - K - 1:
                assert row[k] == marker
            else:
                assert row[k] == blank


def test_copy_generator_follows_its_definition():
    L, K, n = 40, 5, 6
    tokens, string = data.copy_tokens(1, 2, 16, L, n, K)
    assert tokens.shape == (16, L) and string.shape == (16, K) and tokens.dtype == np.int32
    _check_copy_definition(tokens, string, L, K, n)
    x, s2 = data.copy_batch(1, 2, 16, L, n, K)
    np.testing.assert_array_equal(x.argmax(-1), tokens)
    np.testing.assert_array_equal(s2, string)
    assert x.shape == (16, L, n + 2) and np.all(x.sum(-1) == 1)
    again, _ = data.copy_tokens(1, 2, 16, L, n, K)
    np.testing.assert_array_equal(again, tokens)                     # a function of (seed, index)
    other, _ = data.copy_tokens(1, 2, 16, L, n, K, eval_set=True)
    assert not np.array_equal(other, tokens)
    # every symbol turns up (a 16 x 5 draw from 6 symbols misses one with probability < 1e-5)
    assert set(np.unique(string)) == set(range(n))
    task = data.make_task("copy", L=L, n_classes=n, n_copy=K)
    assert (task.d_input, task.d_output, task.readout, task.n_copy) == (n + 2, n, "copy", K)


def test_device_generators_follow_the_definitions():
    key = jax.random.PRNGKey(3)
    L, K, n = 48, 4, 5
    tokens, string = jax.jit(data.copy_tokens_jax, static_argnums=(1, 2, 3, 4))(key, 32, L, n, K)
    _check_copy_definition(np.asarray(tokens), np.asarray(string), L, K, n)
    L, C, noise = 256, 4, 3
    tokens, labels = jax.jit(data.reach_tokens_jax, static_argnums=(1, 2, 3, 4))(key, 64, L, C,
                                                                                  noise)
    tokens, labels = np.asarray(tokens), np.asarray(labels)
    span = L // 16
    for row, label in zip(tokens, labels):
        cue = np.flatnonzero(row < C)
        assert len(cue) == span and cue[0] < span                    # one cue, early
        np.testing.assert_array_equal(cue, cue[0] + np.arange(span))  # contiguous
        assert np.all(row[cue] == label)
        assert np.all((row[row >= C] >= C) & (row[row >= C] < C + noise))
    assert set(np.unique(labels)) == set(range(C))
    silent, _ = data.reach_tokens_jax(key, 4, 64, 3, 0)
    assert set(np.unique(np.asarray(silent))) <= {0, 1, 2, 3}


def test_copy_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="'n_copy'"):
        data.copy_tokens(0, 0, 2, 20, 4, 10)
    with pytest.raises(ValueError, match="'L'"):
        data.make_task("copy", L=10, n_copy=8)
    with pytest.raises(ValueError, match="'self'"):
        data.make_task("mnist1d").device_tokens(jax.random.PRNGKey(0), 2)


def test_mnist1d_shuffle_uses_the_published_permutation():
    # The reference: the benchmark's notebook, np.random.seed(42) then permutation(40).
    state = np.random.get_state()
    try:
        np.random.seed(42)
        published = np.random.permutation(40)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(data.mnist1d_permutation(), published)
    plain = data.mnist1d_arrays(num_samples=100)
    mixed = data.mnist1d_arrays(shuffle=True, num_samples=100)
    np.testing.assert_array_equal(mixed["x"], plain["x"][:, published])
    np.testing.assert_array_equal(mixed["x_test"], plain["x_test"][:, published])
    np.testing.assert_array_equal(mixed["y"], plain["y"])
