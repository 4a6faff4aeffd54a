"""The memory claim, measured: L samples in, N numbers kept, the whole history out.

Serves chapter 4 (from ODE to RNN) and the appendix on numerics (float32, the
step as an increment). The time-varying LegS recurrence reads
samples ``u_0, ..., u_{L-1}`` one at a time and keeps only ``c_k``, the N
coefficients of the history seen so far in the scaled Legendre basis of chapter 2.
Sample k is read as the value of the signal on the time interval [k, k + 1], so
after reading it the state ``c_k`` describes the history on [0, k + 1]; the final
state ``c_{L-1}`` describes [0, L]:

    u(s) ~ sum_n c_n sqrt(2n+1) P_n(2 s / L - 1),   0 <= s <= L.

The time-varying ODE ``c' = (1/t)(A c + B u)`` is time-invariant in log time
``tau = log t``: ``dc/dtau = A c + B u``. Step k (k >= 1) goes from t = k to
t = k + 1, a step ``dtau_k = log((k + 1) / k)`` in log time (about 1/k, the
step of the HiPPO paper), discretized by the generalized bilinear transform
``(I - alpha dtau A) c_k = (I + (1 - alpha) dtau A) c_{k-1} + dtau B u_k``.
The first sample gives ``c_0 = u_0 e_0`` exactly (the coefficients of a constant).

The step is computed as an increment,

    c_k = c_{k-1} + (I - alpha dtau A)^-1 dtau (A c_{k-1} + B u_k),

the same number in exact arithmetic. The increment is O(dtau) = O(1/k) times
the state, so rounding in the solve touches only that small part, and the one
rounding of the state itself is the final addition, correctly rounded on every
device. Solving for the whole new state instead divides O(1) numbers by
``1 + alpha dtau (n + 1)`` at every step; XLA's GPU backend lowers float32
division to an approximate ``div.full.f32`` (a reciprocal, then a product),
which loses the ``dtau^2`` term of ``1 / (1 + dtau / 2)`` in the same direction
at every step (measured on an H100 with JAX 0.11.2: 23% of float32 quotients
differ from IEEE division, by -0.19 ulp on average, never more than 1 ulp).
Over 16,000 steps that bias made the float32 coefficient error 1.45e-4 on the
H100 against 3.8e-6 on a CPU (smooth signal, N = 64; band-limited with 32
cycles: 1.3e-4 against 5.0e-5). With the increment form: 1.6e-6 on the H100,
1.5e-6 on the CPU (band-limited: 5.1e-5 and 5.0e-5); float64 agrees on both,
2.1e-7 (see ``tests/test_memory.py``). The step sizes ``dtau_k`` are computed
once in float64 on the host (``log1p(1/k)``).

Cost: a dense N x N solve per step would be O(N^2) (and 20 times slower here
for N = 512). The LegS matrix is ``A = -diag(n + 1) - diag(r) T diag(r)``, with
``r_n = sqrt(2n+1)`` and T the strictly lower triangular matrix of ones, so

* ``A c = -(n + 1) c - r * (cumsum(r c) - r c)`` costs O(N);
* ``(I - a A) x = y`` reads, row by row, ``d_n x_n + a r_n S_n = y_n`` with
  ``d_n = 1 + a (n + 1)`` and ``S_n = sum_{m<n} r_m x_m``; eliminating x gives
  the scalar linear recurrence ``S_{n+1} = (1 - a n) / d_n * S_n + r_n y_n / d_n``,
  which ``jax.lax.associative_scan`` evaluates in O(N log N) work, log depth.

S4's fixed-step form (the LegS matrices without 1/t, one step dt, run with
``s4_minimal.ssm.scan_ssm``) keeps a different memory: the projection of the
history onto Legendre polynomials of the warped age ``2 exp(-a) - 1`` (a the
age in units of the continuous time, samples times dt), under the weight
``exp(-a)`` (Gu, Johnson, Timalsina, Rudra and Re, "How to Train Your HiPPO:
State Space Models with Generalized Orthogonal Basis Projections", 2022).
:func:`warped_basis` rebuilds that history and :func:`project_warped` computes
the exact coefficients it approximates.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ._validate import check_array, check_choice, check_int, check_scalar, fail
from .bench import relative_error
from .discretize import ALPHA
from .legendre import legendre_float64

__all__ = ["legs_matvec", "legs_solve", "legs_recurrence", "project_samples",
           "history_basis", "warped_basis", "project_warped", "signal", "SIGNALS",
           "memory_table", "main"]

SIGNALS = ("smooth", "bandlimited", "smooth+noise", "noise")


def legs_matvec(c):
    """``A_legs @ c`` in O(N), for c of shape (N,)."""
    n = jnp.arange(c.shape[-1], dtype=c.dtype)
    r = jnp.sqrt(2 * n + 1)
    rc = r * c
    return -(n + 1) * c - r * (jnp.cumsum(rc) - rc)


def legs_solve(a, y):
    """``x`` with ``(I - a A_legs) x = y`` in O(N log N) by a parallel scan, for y of shape (N,)."""
    n = jnp.arange(y.shape[-1], dtype=y.dtype)
    r = jnp.sqrt(2 * n + 1)
    d = 1 + a * (n + 1)
    coef, add = (1 - a * n) / d, r * y / d

    def compose(first, second):  # apply S -> c1 S + a1, then S -> c2 S + a2
        return second[0] * first[0], second[0] * first[1] + second[1]

    _, S_next = jax.lax.associative_scan(compose, (coef, add))
    S = jnp.concatenate([jnp.zeros(1, y.dtype), S_next[:-1]])  # S_n = sum_{m<n} r_m x_m
    return (y - a * r * S) / d


def _legs_scan(u, N, alpha, states):
    """The recurrence itself, with ``alpha`` the GBT weight; jitted below as ``_legs_scan_jit``."""
    dtype = u.dtype
    k = np.arange(1, u.shape[0], dtype=np.float64)
    dtau = jnp.asarray(np.log1p(1.0 / k), dtype)  # log((k + 1) / k), float64 on the host
    B = jnp.sqrt(2 * jnp.arange(N, dtype=dtype) + 1)
    c0 = jnp.zeros(N, dtype).at[0].set(u[0])  # the coefficients of a constant

    def step(c, inputs):
        dt, u_k = inputs
        change = dt * (legs_matvec(c) + B * u_k)  # (I - alpha dt A)(c_k - c_{k-1})
        if alpha != 0.0:
            change = legs_solve(alpha * dt, change)
        c = c + change  # the state's only rounding: one addition
        return c, (c if states else None)

    c_last, cs = jax.lax.scan(step, c0, (dtau, u[1:]))
    if states:
        return jnp.concatenate([c0[None], cs], axis=0)
    return c_last


_legs_scan_jit = jax.jit(_legs_scan, static_argnums=(1, 2, 3))


def legs_recurrence(u, N: int, method: str = "bilinear", states: bool = False):
    """Run the time-varying LegS recurrence over ``u`` (L,): ``c_{L-1}`` (N,), or all ``c_k`` (L, N).

    ``method`` is ``"euler"``, ``"backward_euler"`` or ``"bilinear"`` (the
    generalized bilinear transform with alpha = 0, 1, 1/2). Computes in the
    dtype of ``u`` (float32 by default, float64 for float64 input with x64 on).
    Batch over signals with ``jax.vmap``.
    """
    method = check_choice("legs_recurrence", "method", method, tuple(ALPHA))
    N = check_int("legs_recurrence", "N", N, minimum=1)
    u = check_array("legs_recurrence", "u", u, ndim=1)
    return _legs_scan_jit(u, N, ALPHA[method], bool(states))


def _check_u(func, u):
    """``u`` as float64 NumPy (check_array would round to float32 without x64), 1-D or 2-D."""
    try:
        u = np.asarray(u, dtype=np.float64)
    except (TypeError, ValueError):
        fail(func, "u", "an array of numbers", u, TypeError)
    if u.ndim not in (1, 2) or u.shape[-1] < 1:
        fail(func, "u", "a non-empty array with 1 or 2 dimensions", u)
    if not np.all(np.isfinite(u)):
        fail(func, "u", "finite values (no NaN or inf)", u)
    return u


def _project_pieces(u, N, x):
    """Coefficients ``(r_n / 2) sum_j u_j int_{x_j}^{x_{j+1}} P_n``: sample j constant on [x_j, x_{j+1}].

    ``x`` (L + 1,) are the edges of the samples on the Legendre interval [-1, 1]. The
    integrals come from the antiderivative ``int_{-1}^x P_n = (P_{n+1} - P_{n-1}) / (2n + 1)``
    (n >= 1) and ``x + 1`` (n = 0): exact, no quadrature.
    """
    P = legendre_float64(N + 1, x)
    Q = np.empty((x.size, N))
    Q[:, 0] = x + 1
    n = np.arange(1, N)
    Q[:, 1:] = (P[:, 2:N + 1] - P[:, 0:N - 1]) / (2 * n + 1)
    r = np.sqrt(2 * np.arange(N) + 1.0)
    return r * 0.5 * (u @ np.diff(Q, axis=0))


def project_samples(u, N: int):
    """Exact LegS coefficients of the piecewise-constant history of ``u`` on [0, L], float64 NumPy.

    ``c_n = (1/L) sum_j u_j int_j^{j+1} sqrt(2n+1) P_n(2 s / L - 1) ds`` (sample j
    holds on [j, j + 1]), computed exactly by :func:`_project_pieces`. This is the
    best any N coefficients of this basis can do (the least-squares projection), the
    target the time-varying recurrence approximates. ``u`` of shape (L,) gives (N,);
    a stack of signals (M, L) gives (M, N).
    """
    N = check_int("project_samples", "N", N, minimum=1)
    u = _check_u("project_samples", u)
    return _project_pieces(u, N, np.linspace(-1.0, 1.0, u.shape[-1] + 1))


def history_basis(N: int, L: int):
    """The matrix G (L, N) with ``G[j, n] = sqrt(2n+1) P_n(2 s_j / L - 1)``, s_j = j + 1/2: float64 NumPy.

    ``G @ c`` is the history a state c describes, at the sample midpoints, in
    float64 whatever the precision c was computed in.
    """
    N = check_int("history_basis", "N", N, minimum=1)
    L = check_int("history_basis", "L", L, minimum=1)
    x = 2 * (np.arange(L) + 0.5) / L - 1
    return legendre_float64(N, x) * np.sqrt(2 * np.arange(N) + 1.0)


def _warped_edges(L, dt):
    """Where the sample edges sit on [-1, 1] for the fixed-step memory: ``2 exp(-age) - 1``.

    After L samples of step dt, sample j holds on the ages ((L - 1 - j) dt, (L - j) dt);
    the edges, oldest first, are the ages ``(L - m) dt`` for m = 0..L.
    """
    return 2 * np.exp(-dt * np.arange(L, -1, -1, dtype=np.float64)) - 1


def _warped_basis(N, L, dt):
    age = dt * (L - np.arange(L) - 0.5)  # age of each sample's midpoint, oldest first
    return legendre_float64(N, 2 * np.exp(-age) - 1) * np.sqrt(2 * np.arange(N) + 1.0)


def warped_basis(N: int, L: int, dt: float):
    """The matrix W (L, N) that rebuilds the history from the fixed-step LegS state, float64 NumPy.

    ``W[j, n] = sqrt(2n+1) P_n(2 exp(-a_j) - 1)`` with ``a_j = (L - j - 1/2) dt`` the
    age of sample j's midpoint after L samples. S4's form, ``x' = A x + B u`` with the
    LegS matrices run with one fixed step dt, keeps the projection of the history
    onto these warped Legendre polynomials under the weight ``exp(-a)`` ("How to
    Train Your HiPPO", Gu et al. 2022): ``W @ x_{L-1}`` is the history it remembers,
    fine for ages below about 1 (1/dt samples), blurred beyond.
    """
    N = check_int("warped_basis", "N", N, minimum=1)
    L = check_int("warped_basis", "L", L, minimum=1)
    dt = float(check_scalar("warped_basis", "dt", dt, positive=True))
    return _warped_basis(N, L, dt)


def project_warped(u, N: int, dt: float):
    """Exact coefficients of the piecewise-constant history of ``u`` in the warped basis, float64.

    ``c_n = sum_j u_j int sqrt(2n+1) P_n(2 exp(-a) - 1) exp(-a) da`` over the ages of
    sample j (see :func:`warped_basis`); the history is zero before sample 0. With
    ``x = 2 exp(-a) - 1`` the weight becomes ``dx / 2``, so each piece is a plain
    Legendre integral (:func:`_project_pieces`). This is what the fixed-step LegS state
    approximates; the zero-order-hold recurrence reproduces it to rounding (ZOH is
    exact for piecewise-constant input). ``u`` (L,) gives (N,), (M, L) gives (M, N).
    """
    N = check_int("project_warped", "N", N, minimum=1)
    dt = float(check_scalar("project_warped", "dt", dt, positive=True))
    u = _check_u("project_warped", u)
    return _project_pieces(u, N, _warped_edges(u.shape[-1], dt))


def signal(kind: str, L: int, bandwidth: int = 16, seed: int = 0):
    """A test signal of length L with unit RMS, float64 NumPy.

    * ``"smooth"``: an analytic function of x = s / L (no randomness);
    * ``"bandlimited"``: a random Fourier series with whole frequencies 1..``bandwidth``
      cycles per record, i.i.d. normal amplitudes;
    * ``"smooth+noise"``: the smooth signal plus white noise of RMS 0.1 (before normalizing);
    * ``"noise"``: white Gaussian noise, L independent samples.
    """
    kind = check_choice("signal", "kind", kind, SIGNALS)
    L = check_int("signal", "L", L, minimum=2)
    bandwidth = check_int("signal", "bandwidth", bandwidth, minimum=1)
    seed = check_int("signal", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    x = (np.arange(L) + 0.5) / L
    smooth = np.sin(3 * np.pi * x) + 0.5 * np.cos(7 * np.pi * x + 1) + np.exp(-20 * (x - 0.6) ** 2)
    if kind == "smooth":
        out = smooth
    elif kind == "smooth+noise":
        out = smooth / np.sqrt(np.mean(smooth ** 2)) + 0.1 * rng.standard_normal(L)
    elif kind == "noise":
        out = rng.standard_normal(L)
    else:
        freq = np.arange(1, bandwidth + 1)
        a, b = rng.standard_normal((2, bandwidth))
        phase = 2 * np.pi * np.outer(x, freq)
        out = np.cos(phase) @ a + np.sin(phase) @ b
    return out / np.sqrt(np.mean(out ** 2))


def memory_table(Ns=(32, 64, 128, 256, 512), L: int = 16000, bandwidths=(8, 32, 128, 512),
                 dtype=jnp.float32, seed: int = 0, progress: bool = False):
    """Relative reconstruction error from the final state, for each signal class and N.

    ``progress`` shows a progress bar over the state sizes (the command line turns it on).

    Returns a dict: ``"rows"`` (names of the signal classes), ``"N"``, and the
    matrices ``"recurrence"`` (error of the history rebuilt from the recurrence's
    final state, run in ``dtype``; the rebuilding is float64) and ``"projection"`` (error of the exact
    projection of the samples, float64: the best N coefficients can do), each
    ``rows x N`` as nested lists of floats.
    """
    L = check_int("memory_table", "L", L, minimum=2)
    Ns = [check_int("memory_table", "Ns", n, minimum=1) for n in Ns]
    signals, rows = [], []
    for kind in SIGNALS:
        if kind == "bandlimited":
            for bw in bandwidths:
                rows.append(f"bandlimited {bw} cycles")
                signals.append(signal(kind, L, bandwidth=bw, seed=seed))
        else:
            rows.append(kind)
            signals.append(signal(kind, L, seed=seed))
    U = np.stack(signals)
    rec = np.empty((len(rows), len(Ns)))
    proj = np.empty_like(rec)
    for j, N in enumerate(tqdm(Ns, desc="state sizes N", disable=not progress)):
        G = history_basis(N, L)
        # One signal at a time: under jax.vmap, XLA reorders the float32 sums and the
        # rounding error grows about tenfold (measured); a loop costs little more.
        finals = np.stack([np.asarray(legs_recurrence(jnp.asarray(u, dtype), N), np.float64) for u in U])
        best = project_samples(U, N)
        for i, u in enumerate(U):
            rec[i, j] = relative_error(u, G @ finals[i])
            proj[i, j] = relative_error(u, G @ best[i])
    return {"rows": rows, "N": Ns, "L": L, "dtype": jnp.dtype(dtype).name,
            "recurrence": rec.tolist(), "projection": proj.tolist()}


def main(argv=None):
    """``python -m s4_minimal.memory [--out FILE]``: compute the memory table and write it as JSON."""
    import argparse
    import datetime
    import json
    import time

    from . import environment

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", default=None, help="JSON file to write (default: print only)")
    parser.add_argument("--L", type=int, default=16000, help="sequence length (default 16000)")
    parser.add_argument("--N", type=int, nargs="+", default=[32, 64, 128, 256, 512],
                        help="state sizes (default 32 64 128 256 512)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = memory_table(Ns=tuple(args.N), L=args.L, progress=True)
    table["seconds"] = round(time.perf_counter() - start, 1)
    table["date"] = datetime.date.today().isoformat()
    table["environment"] = environment()
    for name, row in zip(table["rows"], table["recurrence"]):
        print(f"{name:>24}  " + "  ".join(f"{e:8.1e}" for e in row))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(table, fh, indent=1)
    return table


if __name__ == "__main__":
    main()
