"""The memory claim, measured: L samples in, N numbers kept, the whole history out.

Serves chapter 4 (from ODE to RNN). The LegS recurrence reads samples
``u_1, ..., u_L`` one at a time and keeps only ``c_k``, the N coefficients of
the history seen so far in the scaled Legendre basis of chapter 2. Sample j is
read as the value of the signal on the time interval [j - 1, j], so after step k
the state describes the history on [0, k] and

    u(s) ~ sum_n c_n sqrt(2n+1) P_n(2 s / k - 1),   0 <= s <= k.

The time-varying ODE ``c' = (1/t)(A c + B u)`` is time-invariant in log time
``tau = log t``: ``dc/dtau = A c + B u``. Step k goes from t = k - 1 to t = k,
a step ``dtau_k = log(k / (k - 1))`` in log time (about 1/k, the step of the
HiPPO paper), discretized by the generalized bilinear transform
``(I - alpha dtau A) c_k = (I + (1 - alpha) dtau A) c_{k-1} + dtau B u_k``.
The first sample gives ``c_1 = u_1 e_0`` exactly (the coefficients of a constant).

Cost: a dense N x N solve per step would be O(N^2) (and 20 times slower here
for N = 512). The LegS matrix is ``A = -diag(n + 1) - diag(r) T diag(r)``, with
``r_n = sqrt(2n+1)`` and T the strictly lower triangular matrix of ones, so

* ``A c = -(n + 1) c - r * (cumsum(r c) - r c)`` costs O(N);
* ``(I - a A) x = y`` reads, row by row, ``d_n x_n + a r_n S_n = y_n`` with
  ``d_n = 1 + a (n + 1)`` and ``S_n = sum_{m<n} r_m x_m``; eliminating x gives
  the scalar linear recurrence ``S_{n+1} = (1 - a n) / d_n * S_n + r_n y_n / d_n``,
  which ``jax.lax.associative_scan`` evaluates in O(N log N) work, log depth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ._validate import check_array, check_choice, check_int, fail
from .bench import relative_error
from .discretize import ALPHA
from .legendre import legendre_float64

__all__ = ["legs_matvec", "legs_solve", "legs_recurrence", "project_samples",
           "history_basis", "signal", "SIGNALS", "memory_table", "main"]

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
    L = u.shape[0]
    k = np.arange(2, L + 1, dtype=np.float64)
    dtau = jnp.asarray(np.log1p(1.0 / (k - 1.0)), dtype)  # log(k / (k - 1)), accurate for large k
    B = jnp.sqrt(2 * jnp.arange(N, dtype=dtype) + 1)
    c1 = jnp.zeros(N, dtype).at[0].set(u[0])

    def step(c, inputs):
        dt, u_k = inputs
        y = c + dt * B * u_k
        if alpha != 1.0:
            y = y + (1 - alpha) * dt * legs_matvec(c)
        c = y if alpha == 0.0 else legs_solve(alpha * dt, y)
        return c, (c if states else None)

    c_L, cs = jax.lax.scan(step, c1, (dtau, u[1:]))
    if states:
        return jnp.concatenate([c1[None], cs], axis=0)
    return c_L


_legs_scan_jit = jax.jit(_legs_scan, static_argnums=(1, 2, 3))


def legs_recurrence(u, N: int, method: str = "bilinear", states: bool = False):
    """Run the time-varying LegS recurrence over ``u`` (L,): ``c_L`` (N,), or all ``c_k`` (L, N).

    ``method`` is ``"euler"``, ``"backward_euler"`` or ``"bilinear"`` (the
    generalized bilinear transform with alpha = 0, 1, 1/2). Computes in the
    dtype of ``u`` (float32 by default, float64 for float64 input with x64 on).
    Batch over signals with ``jax.vmap``.
    """
    method = check_choice("legs_recurrence", "method", method, tuple(ALPHA))
    N = check_int("legs_recurrence", "N", N, minimum=1)
    u = check_array("legs_recurrence", "u", u, ndim=1)
    return _legs_scan_jit(u, N, ALPHA[method], bool(states))


def project_samples(u, N: int):
    """Exact LegS coefficients of the piecewise-constant history of ``u`` on [0, L], float64 NumPy.

    ``c_n = (1/L) sum_j u_j int_{j-1}^{j} sqrt(2n+1) P_n(2 s / L - 1) ds``, with the
    antiderivative ``int_{-1}^x P_n = (P_{n+1}(x) - P_{n-1}(x)) / (2n + 1)`` (n >= 1)
    and ``x + 1`` (n = 0). This is the best any N coefficients of this basis can
    do (the least-squares projection), the target the recurrence approximates.
    ``u`` of shape (L,) gives (N,); a stack of signals (M, L) gives (M, N).
    """
    N = check_int("project_samples", "N", N, minimum=1)
    try:  # NumPy float64 throughout: check_array would round to float32 without x64
        u = np.asarray(u, dtype=np.float64)
    except (TypeError, ValueError):
        fail("project_samples", "u", "an array of numbers", u, TypeError)
    if u.ndim not in (1, 2) or u.shape[-1] < 1:
        fail("project_samples", "u", "a non-empty array with 1 or 2 dimensions", u)
    if not np.all(np.isfinite(u)):
        fail("project_samples", "u", "finite values (no NaN or inf)", u)
    L = u.shape[-1]
    x = np.linspace(-1.0, 1.0, L + 1)
    P = legendre_float64(N + 1, x)
    Q = np.empty((L + 1, N))
    Q[:, 0] = x + 1
    n = np.arange(1, N)
    Q[:, 1:] = (P[:, 2:N + 1] - P[:, 0:N - 1]) / (2 * n + 1)
    r = np.sqrt(2 * np.arange(N) + 1.0)
    return r * 0.5 * (u @ np.diff(Q, axis=0))


def history_basis(N: int, L: int):
    """The matrix G (L, N) with ``G[j, n] = sqrt(2n+1) P_n(2 s_j / L - 1)``, s_j = j + 1/2: float64 NumPy.

    ``G @ c`` is the history a state c describes, at the sample midpoints, in
    float64 whatever the precision c was computed in.
    """
    N = check_int("history_basis", "N", N, minimum=1)
    L = check_int("history_basis", "L", L, minimum=1)
    x = 2 * (np.arange(L) + 0.5) / L - 1
    return legendre_float64(N, x) * np.sqrt(2 * np.arange(N) + 1.0)


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
