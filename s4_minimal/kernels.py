"""Fast convolution kernels: the S4 kernel of a diagonal-plus-low-rank system, and the diagonal one.

Serves chapter 6 (the S4 kernel) and chapter 7 (S4D).

The naive kernel ``K[k] = C Ab^k Bb`` of :func:`s4_minimal.ssm.conv_kernel` costs
O(L N^2) and multiplies Ab by itself L times. For the bilinear discretization of

    A = diag(Lambda) - P Q^H        (diagonal plus low rank, "DPLR")

S4 computes K in O(L N) operations and one FFT instead, without any power of Ab, in
five steps, each a function below:

1. generating function: ``Khat(z) = sum_{k<L} K[k] z^k``; at the roots of unity
   ``z_j = exp(-2 pi i j / L)`` it is the DFT of K, so an inverse FFT gives K back
   (:func:`roots_of_unity`, :func:`generating_function`, :func:`kernel_from_spectrum`);
2. truncation: ``sum_{k<L} (Ab z)^k = (I - Ab^L z^L)(I - Ab z)^-1`` and ``z^L = 1``, so
   ``Khat(z) = Ct (I - Ab z)^-1 Bb`` with ``Ct = C (I - Ab^L)`` (:func:`c_tilde`);
3. bilinear map: ``(I - Ab z)^-1 Bb = 2/(1+z) (s I - A)^-1 B`` with
   ``s = (2/dt)(1-z)/(1+z)`` (:func:`bilinear_s`); at the roots of unity
   ``s_j = (2i/dt) tan(pi j / L)``, which does not cancel in float32
   (:func:`bilinear_s_at_roots`);
4. Woodbury: the resolvent of a DPLR matrix is the diagonal resolvent plus a rank-r
   correction (:func:`resolvent_dplr`);
5. Cauchy: what is left are sums ``sum_n v_n / (s - Lambda_n)`` (:func:`cauchy`).

:func:`kernel_dplr` chains them, with one more numerical measure: at each s the pole
``Lambda_n`` nearest to it is kept out of the Cauchy sums and added back in closed
form, so that the large terms that cancel in the Woodbury formula are never formed
(in float32 they would leave their rounding errors behind). The input ``Ct`` is the learned output vector
``C (I - Ab^L)`` (S4 learns it directly and never forms Ab).

Conventions: vectors act without conjugation, ``C x = sum_n C_n x_n``; P and Q are
arrays of shape (N,) (rank 1) or (r, N) (rank r), and ``A = diag(Lambda) - sum_i
outer(P[i], conj(Q[i]))``.

Stability: both kernels require ``Re(Lambda) < 0`` (checked when the values are known,
that is outside ``jit``/``grad``/``vmap``; a ``ValueError`` names the argument). For
the DPLR kernel it is what keeps ``s - Lambda_n`` away from zero: ``s`` lies on the
imaginary axis when ``|z| = 1``. It is the assumption S4 makes of its diagonal part;
it does not by itself prove that the full matrix ``A`` is stable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import discretize as _discretize
from . import hippo
from ._precision import full_precision
from ._validate import (check_array, check_choice, check_int, check_scalar, check_square, concrete,
                        fail)

__all__ = [
    "roots_of_unity",
    "generating_function",
    "kernel_from_spectrum",
    "c_tilde",
    "bilinear_s",
    "bilinear_s_at_roots",
    "resolvent_dplr",
    "cauchy",
    "kernel_dplr",
    "kernel_diag",
    "kernel_diag_factored",
    "legs_dplr_system",
]


# --------------------------------------------------------------------------------------
# step 1: the generating function at the roots of unity
# --------------------------------------------------------------------------------------

def _roots_of_unity(L, half):
    """``z_j = exp(-2 pi i j / L)``, j < L (or j <= L // 2 when ``half``)."""
    count = L // 2 + 1 if half else L
    j = jnp.arange(count)
    return jnp.exp((-2j * jnp.pi / L) * j)


def roots_of_unity(L: int, half: bool = False):
    """``z_j = exp(-2 pi i j / L)`` for j < L, or for j <= L // 2 when ``half``.

    At these points the generating function of a length-L kernel is its DFT:
    ``generating_function(K, roots_of_unity(L)) == jnp.fft.fft(K)``.
    """
    L = check_int("roots_of_unity", "L", L, minimum=1)
    if not isinstance(half, bool):
        fail("roots_of_unity", "half", "True or False", half, TypeError)
    return _roots_of_unity(L, half)


def _generating_function(K, z):
    """``Khat(z) = sum_{k<L} K[k] z^k`` at each point z."""
    return jnp.polyval(K[::-1], z)  # Horner's rule: (..(K[L-1] z + K[L-2]) z + ..) z + K[0]


@full_precision
def generating_function(K, z):
    """``Khat(z) = sum_{k < L} K[k] z^k`` at each point of ``z`` (dense, O(L) per point)."""
    K = check_array("generating_function", "K", K, ndim=1, complex_ok=True)
    z = check_array("generating_function", "z", z, ndim=1, complex_ok=True)
    return _generating_function(K, z)


def _kernel_from_spectrum(Khat, L):
    """K from Khat at the roots of unity: inverse DFT (``irfft`` for the half spectrum)."""
    if Khat.shape[0] == L:
        return jnp.fft.ifft(Khat, n=L)   # all L values: a complex kernel
    return jnp.fft.irfft(Khat, n=L)      # L//2 + 1 values: the real kernel they determine


def kernel_from_spectrum(Khat, L: int):
    """Invert the generating function sampled at :func:`roots_of_unity`: K of shape (L,).

    ``Khat`` of length L (all roots) gives the complex K by an inverse FFT. ``Khat`` of
    length ``L // 2 + 1`` (the roots with non-positive angle) is the spectrum of a
    *real* kernel, whose other half is the conjugate mirror image; ``irfft`` returns
    that real K.
    """
    L = check_int("kernel_from_spectrum", "L", L, minimum=1)
    Khat = check_array("kernel_from_spectrum", "Khat", Khat, ndim=1, complex_ok=True)
    if Khat.shape[0] not in (L, L // 2 + 1):
        fail("kernel_from_spectrum", "Khat",
             f"length L = {L} or L // 2 + 1 = {L // 2 + 1}", Khat)
    return _kernel_from_spectrum(Khat, L)


# --------------------------------------------------------------------------------------
# step 2: truncation
# --------------------------------------------------------------------------------------

def _c_tilde(Ab, C, L):
    """``Ct = C (I - Ab^L)``."""
    return C - C @ jnp.linalg.matrix_power(Ab, L)


@full_precision
def c_tilde(Ab, C, L: int):
    """``Ct = C (I - Ab^L)``, the output vector that absorbs the truncation at length L.

    Dense: ``Ab^L`` by repeated squaring, O(N^3 log L). S4 learns ``Ct`` directly; this
    function converts a known C (to check the fast kernel against the naive one).
    """
    Ab = check_square("c_tilde", "Ab", Ab)
    C = check_array("c_tilde", "C", C, shape=(Ab.shape[0],), complex_ok=True)
    L = check_int("c_tilde", "L", L, minimum=1)
    return _c_tilde(Ab, C, L)


# --------------------------------------------------------------------------------------
# step 3: the bilinear map from z to s
# --------------------------------------------------------------------------------------

def _bilinear_s(z, dt):
    """``s = (2 / dt) (1 - z) / (1 + z)``."""
    return (2.0 / dt) * (1.0 - z) / (1.0 + z)


def bilinear_s(z, dt):
    """``s = (2 / dt) (1 - z) / (1 + z)`` at any points z: for the bilinear Ab, Bb,

    ``(I - Ab z)^-1 Bb = 2 / (1 + z) * (s I - A)^-1 B``.

    The unit circle maps to the imaginary axis; z = -1 maps to infinity. This is
    the map for arbitrary z; near z = 1 in low precision, ``1 - z`` cancels and
    leaves ``s`` with a spurious real part of order ``eps / dt``. At the roots of
    unity use :func:`bilinear_s_at_roots`, which is exact to rounding.
    """
    z = check_array("bilinear_s", "z", z, complex_ok=True)
    dt = check_scalar("bilinear_s", "dt", dt, positive=True)
    return _bilinear_s(z, dt)


def _bilinear_s_at_roots(L, dt, half):
    """``s_j = (2i / dt) tan(pi j / L)``, infinite at z = -1."""
    j = np.arange(L // 2 + 1 if half else L)
    t = jnp.asarray(_tan_half_angle(j, L), dt.dtype)      # tan(pi j / L), 0 at z = -1
    s = jax.lax.complex(jnp.zeros_like(t), 2.0 * t / dt)  # (2i / dt) tan(pi j / L)
    return jnp.where(2 * j == L, jax.lax.complex(0.0, jnp.inf).astype(s.dtype), s)


def _tan_half_angle(j, L):
    """``tan(pi j / L)`` for integer j, as float64 NumPy (0 at j = L/2, which needs a limit).

    ``z_j`` is also ``z_{j-L}``: taking j in (-L/2, L/2] keeps the angle in (-pi/2, pi/2]
    and avoids the cancellation of ``pi j / L`` against pi for j close to L.
    """
    j = np.where(2 * j > L, j - L, j)
    return np.where(2 * j == L, 0.0, np.tan(np.pi * j / L))


def bilinear_s_at_roots(L: int, dt, half: bool = False):
    """The bilinear ``s`` at the points of :func:`roots_of_unity`, in a stable form.

    For ``z_j = exp(-2 pi i j / L)``, ``(1 - z)/(1 + z) = i tan(pi j / L)``, so

        s_j = (2i / dt) tan(pi j / L),

    computed from the integer j (taken in (-L/2, L/2], the same root), with no
    cancellation in ``1 - z``: ``Re s_j = 0`` exactly. At z = -1 (``j = L/2``, L
    even) ``s`` is infinite; that entry is returned as ``inf`` on the imaginary axis.
    """
    L = check_int("bilinear_s_at_roots", "L", L, minimum=1)
    dt = check_scalar("bilinear_s_at_roots", "dt", dt, positive=True)
    if not isinstance(half, bool):
        fail("bilinear_s_at_roots", "half", "True or False", half, TypeError)
    return _bilinear_s_at_roots(L, jnp.asarray(dt, jnp.result_type(dt, float)), half)


# --------------------------------------------------------------------------------------
# steps 4 and 5: Woodbury and Cauchy
# --------------------------------------------------------------------------------------

def _resolvent_dplr(Lambda, P, Q, s):
    """``(s I - A)^-1 = D - D P^T (I_r + conj(Q) D P^T)^-1 conj(Q) D``, D = diag(1/(s - Lambda))."""
    d = 1.0 / (s - Lambda)                       # the diagonal resolvent D, (N,)
    DPt = d[:, None] * P.T                       # D P^T, (N, r)
    QhD = Q.conj() * d[None, :]                  # conj(Q) D, (r, N)
    small = jnp.eye(P.shape[0], dtype=DPt.dtype) + Q.conj() @ DPt   # r x r
    return jnp.diag(d) - DPt @ jnp.linalg.solve(small, QhD)


@full_precision
def resolvent_dplr(Lambda, P, Q, s):
    """``(s I - A)^-1`` for ``A = diag(Lambda) - P^T conj(Q)`` by the Woodbury identity, shape (N, N).

    With ``D = diag(1 / (s - Lambda))`` and P, Q as (r, N) arrays:

    ``(s I - A)^-1 = D - D P^T (I_r + conj(Q) D P^T)^-1 conj(Q) D``.

    Only an r x r system is solved. Dense output, for checking; :func:`kernel_dplr`
    never forms it.
    """
    Lambda = check_array("resolvent_dplr", "Lambda", Lambda, ndim=1, complex_ok=True)
    N = Lambda.shape[0]
    P = _check_low_rank("resolvent_dplr", "P", P, N)
    Q = _check_low_rank("resolvent_dplr", "Q", Q, N)
    if P.shape != Q.shape:
        fail("resolvent_dplr", "Q", f"the shape of P {tuple(P.shape)}", Q)
    s = check_array("resolvent_dplr", "s", s, ndim=0, complex_ok=True)
    return _resolvent_dplr(Lambda, P, Q, s)


def _cauchy(v, s, Lambda):
    """``out[..., j] = sum_n v[..., n] / (s[j] - Lambda[n])``."""
    return jnp.einsum("...n,mn->...m", v, 1.0 / (s[:, None] - Lambda[None, :]))


@full_precision
def cauchy(v, s, Lambda):
    """The Cauchy kernel ``out[..., j] = sum_n v[..., n] / (s[j] - Lambda[n])``.

    ``v`` has shape (..., N), ``s`` shape (M,); output shape (..., M). Direct
    O(M N) evaluation (the sum S4 reduces everything to; fast multipole or
    hand-written kernels can do it in less memory, not needed here).
    """
    Lambda = check_array("cauchy", "Lambda", Lambda, ndim=1, complex_ok=True)
    N = Lambda.shape[0]
    v = check_array("cauchy", "v", v, complex_ok=True)
    if v.ndim < 1 or v.shape[-1] != N:
        fail("cauchy", "v", f"shape (..., {N}) to match Lambda of length {N}", v)
    s = check_array("cauchy", "s", s, ndim=1, complex_ok=True)
    return _cauchy(v, s, Lambda)


# --------------------------------------------------------------------------------------
# the S4 kernel: the five steps chained
# --------------------------------------------------------------------------------------

def _kernel_dplr_plain(Lambda, P, Q, B, Ct, dt, L):
    """Re K of a rank-one DPLR system by the five steps as written, at all L roots:

        Khat(z) = 2/(1+z) [k(Ct B) - k(Ct P) k(Q* B) / (1 + k(Q* P))],   K = ifft(Khat),

    with the Cauchy sums ``k(a b) = sum_n a_n b_n / (s - Lambda_n)`` and
    ``s = (2/dt)(1-z)/(1+z)``; step 2 is in the given ``Ct = C (I - Ab^L)``. Exact in
    exact arithmetic and accurate in float64; :func:`kernel_dplr` adds the two measures
    that keep it accurate in float32.
    """
    j = np.arange(L)
    nyquist = 2 * j == L                                     # z = -1: s is infinite
    z = jnp.where(nyquist, 0, _roots_of_unity(L, False)).astype(Lambda.dtype)  # step 1
    s = _bilinear_s(z, dt)                                   # step 3: onto the imaginary axis
    v = jnp.stack([Ct * B, Ct * P, Q.conj() * B, Q.conj() * P])
    kCB, kCP, kQB, kQP = _cauchy(v, s, Lambda)               # step 5: four Cauchy sums
    Khat = 2 / (1 + z) * (kCB - kCP * kQB / (1 + kQP))       # step 4: Woodbury for rank one
    Khat = jnp.where(nyquist, dt / 2 * jnp.sum(Ct * B), Khat)   # the limit at z = -1
    return jnp.real(_kernel_from_spectrum(Khat, L))          # step 1 backwards: inverse FFT


def _kernel_dplr(Lambda, P, Q, B, Ct, dt, L, real_system):
    """:func:`_kernel_dplr_plain` with s in the tangent form and the nearest pole kept apart."""
    # The roots z_j = exp(-2 pi i j / L) enter only through t_j = tan(pi j / L):
    # s_j = (2/dt)(1-z_j)/(1+z_j) = (2i/dt) t_j and 2/(1+z_j) = 1 + i t_j.
    j = np.arange(L // 2 + 1 if real_system else L)
    nyquist = 2 * j == L                       # z = -1: s is infinite, use the limit
    t = jnp.asarray(_tan_half_angle(j, L), dt.dtype)
    s = 2j * t / dt                                               # (M,)

    # Cauchy sums k_ab = sum_n a_n b_n / (s - Lambda_n), a in {Ct, conj Q_i}, b in {B, P_i},
    # with the pole nearest to each s left out (the sum R) and kept apart (alpha, beta).
    left = jnp.concatenate([Ct[None, :], Q.conj()], axis=0)       # (r+1, N)
    right = jnp.concatenate([B[None, :], P], axis=0)              # (r+1, N)
    near = jnp.argmin(jnp.abs(s[:, None] - Lambda[None, :]), axis=1)          # (M,)
    g = 1.0 / (s[:, None] - Lambda[None, :])                      # (M, N)
    g = jnp.where(jnp.arange(Lambda.shape[0]) == near[:, None], 0.0, g)
    R = jnp.einsum("an,bn,mn->mab", left, right, g)               # (M, r+1, r+1)
    alpha, beta = _take(left, near).T, _take(right, near).T       # (M, r+1)
    delta = s - _take(Lambda, near)                               # (M,)

    # Woodbury, k00 - k01 (I + k11)^-1 k10, with the near pole added back exactly:
    # res_R + u v / (delta + beta1 . E^-1 alpha1), E = I + R11 (derivation in chapter 6).
    E = jnp.eye(P.shape[0], dtype=R.dtype) + R[:, 1:, 1:]         # (M, r, r)
    X = jnp.linalg.solve(E, jnp.stack([R[:, 1:, 0], alpha[:, 1:]], axis=-1))  # (M, r, 2)
    res_R = R[:, 0, 0] - jnp.sum(R[:, 0, 1:] * X[..., 0], axis=-1)
    u = alpha[:, 0] - jnp.sum(R[:, 0, 1:] * X[..., 1], axis=-1)
    v = beta[:, 0] - jnp.sum(beta[:, 1:] * X[..., 0], axis=-1)
    w = delta + jnp.sum(beta[:, 1:] * X[..., 1], axis=-1)
    Khat = (1 + 1j * t) * (res_R + u * v / w)
    Khat = jnp.where(nyquist, (dt / 2) * jnp.sum(Ct * B), Khat)

    if not real_system:
        # DFT of Re K at j <= L//2: mean of Khat(z_j) and conj Khat(z_{-j}),
        # z_{-j} = z_{L-j}: the order 0, L-1, L-2, ... (slices, not index arrays).
        m = L // 2 + 1
        mirror = jnp.concatenate([Khat[:1], Khat[:0:-1]])[:m]   # Khat(z_{-j})
        Khat = 0.5 * (Khat[:m] + jnp.conj(mirror))
    return jnp.fft.irfft(Khat, n=L)


@jax.custom_jvp
def _take(x, idx):
    """``x[..., idx]`` for integer indices ``idx`` of shape (M,): shape (..., M).

    Plain indexing, with its derivative written as a product with the (M, N) one-hot
    matrix of ``idx``. The gradient is then a matrix product; the derivative of an
    index would transpose to a scatter-add of M values into N slots, which a GPU
    serializes when many indices are equal (in :func:`kernel_dplr`, all M
    frequencies share the N poles; forward+backward for H = 256 channels, N = 64
    on one H200: 177 ms with indexing, 9.4 ms with this, at L = 16,384).
    """
    return x[..., idx]


@_take.defjvp
def _take_jvp(primals, tangents):
    x, idx = primals
    one_hot = (jnp.arange(x.shape[-1]) == idx[:, None]).astype(x.dtype)   # (M, N)
    return x[..., idx], jnp.matmul(tangents[0], one_hot.T, precision="highest")


@full_precision
def kernel_dplr(Lambda, P, Q, B, Ct, dt, L: int, real_system: bool = False):
    """Re K for the bilinear discretization of ``A = diag(Lambda) - P Q^H``, shape (L,).

    ``Ct = C (I - Ab^L)`` is the (learned) output vector; the result equals
    ``conv_kernel(Ab, Bb, C, L)`` of the dense system (its real part). At each root of
    unity ``z_j = exp(-2 pi i j / L)`` (steps in the module docstring), with
    ``t_j = tan(pi j / L)``,

        Khat(z_j) = (1 + i t_j) [k00 - k01 (I + k11)^-1 k10],   s_j = (2i/dt) t_j,

    where the k's are Cauchy sums ``sum_n a_n b_n / (s - Lambda_n)`` with
    a in {Ct, conj(Q)} and b in {B, P}; ``s_j`` and ``1 + i t_j`` are
    ``(2/dt)(1-z)/(1+z)`` and ``2/(1+z)`` in the form that does not cancel in float32
    (:func:`bilinear_s_at_roots`). At z = -1 (present when L is even) s is
    infinite, and the limit ``Khat(-1) = Ct (I + Ab)^-1 Bb = (dt / 2) Ct . B`` is used.

    The output is real, so only ``L // 2 + 1`` DFT values are inverted (``irfft``).
    The DFT of Re K at root j is ``(Khat(z_j) + conj(Khat(conj z_j))) / 2``: two
    evaluations per frequency in general. With ``real_system=True`` the caller
    promises that K is real already (the parameters describe a real system in a
    complex basis, e.g. from :func:`s4_minimal.hippo.legs_dplr` with Ct from a real
    C), so ``Khat(conj z) = conj Khat(z)`` and half the evaluations suffice. With
    that flag on a system whose K is not real, the result is *not* Re K.

    Cost O(L N r^2) time and O(L N) memory (r the rank). Requires Re(Lambda) < 0.
    """
    func = "kernel_dplr"
    Lambda = check_array(func, "Lambda", Lambda, ndim=1, complex_ok=True)
    N = Lambda.shape[0]
    P = _check_low_rank(func, "P", P, N)
    Q = _check_low_rank(func, "Q", Q, N)
    if P.shape != Q.shape:
        fail(func, "Q", f"the shape of P {tuple(P.shape)}", Q)
    B = check_array(func, "B", B, shape=(N,), complex_ok=True)
    Ct = check_array(func, "Ct", Ct, shape=(N,), complex_ok=True)
    dt = check_scalar(func, "dt", dt, positive=True)
    L = check_int(func, "L", L, minimum=1)
    if not isinstance(real_system, bool):
        fail(func, "real_system", "True or False", real_system, TypeError)
    _check_stable(func, Lambda)

    cdtype = _complex_dtype(Lambda, P, Q, B, Ct, dt)
    Lambda, P, Q, B, Ct = (x.astype(cdtype) for x in (Lambda, P, Q, B, Ct))
    dt = jnp.asarray(dt, jnp.finfo(cdtype).dtype)
    return _kernel_dplr(Lambda, P, Q, B, Ct, dt, L, real_system)


# --------------------------------------------------------------------------------------
# the diagonal kernel (S4D)
# --------------------------------------------------------------------------------------

DIAG_METHODS = ("zoh", "bilinear")


def _discretize_diag(Lambda, B, dt, method):
    """Each state is a scalar system: ``(log Ab, Bb)``, elementwise.

    zoh:      Ab = exp(dt Lambda),                          Bb = (Ab - 1) / Lambda * B
    bilinear: Ab = (1 + dt Lambda / 2) / (1 - dt Lambda / 2),  Bb = dt B / (1 - dt Lambda / 2)
    """
    dtL = dt * Lambda
    if method == "zoh":
        return dtL, jnp.expm1(dtL) / Lambda * B
    return jnp.log((1 + dtL / 2) / (1 - dtL / 2)), dt * B / (1 - dtL / 2)


def _kernel_diag(Lambda, B, C, dt, L, method):
    """``K[k] = Re sum_n C_n Bb_n Ab_n^k = Re ((C Bb) @ V)[k]``, ``V[n, k] = Ab_n^k``."""
    log_Ab, Bb = _discretize_diag(Lambda, B, dt, method)
    k = jnp.arange(L, dtype=dt.dtype)
    vandermonde = jnp.exp(log_Ab[:, None] * k[None, :])        # (N, L): V[n, k] = Ab_n^k
    return jnp.real((C * Bb) @ vandermonde)


@full_precision
def kernel_diag(Lambda, B, C, dt, L: int, method: str = "zoh"):
    """Re K for a diagonal ``A = diag(Lambda)``, shape (L,): a Vandermonde product.

    ``K[k] = Re sum_n C_n Bb_n Ab_n^k`` over the states given (no factor 2: for the
    conjugate-pair halving of :mod:`s4_minimal.s4d`, the full kernel is twice this).
    ``method`` is ``"zoh"`` or ``"bilinear"`` (see :func:`_discretize_diag`). Forms the
    (N, L) Vandermonde matrix: O(N L) time and memory. Requires Re(Lambda) < 0.
    """
    return _kernel_diag(*_check_diag("kernel_diag", Lambda, B, C, dt, L, method))


def _kernel_diag_factored(Lambda, B, C, dt, L, method, T):
    """``K[a T + b] = Re sum_n [(C Bb)_n Ab_n^(a T)] Ab_n^b``, block length T."""
    log_Ab, Bb = _discretize_diag(Lambda, B, dt, method)
    a = jnp.arange(-(-L // T), dtype=dt.dtype)                    # block starts a T
    b = jnp.arange(T, dtype=dt.dtype)                             # offsets in a block
    W = (C * Bb)[None, :] * jnp.exp(log_Ab[None, :] * (T * a)[:, None])   # (L/T, N)
    V = jnp.exp(log_Ab[:, None] * b[None, :])                     # (N, T)
    return jnp.real(W @ V).reshape(-1)[:L]


@full_precision
def kernel_diag_factored(Lambda, B, C, dt, L: int, method: str = "zoh", block=None):
    """:func:`kernel_diag` without the (N, L) Vandermonde matrix: O(N sqrt(L)) memory.

    Write each lag as ``k = a T + b`` with block length ``T = block`` (default
    ``ceil(sqrt(L))``), ``0 <= b < T``. Then ``Ab^k = Ab^(a T) Ab^b`` and

        K[a T + b] = Re sum_n [(C Bb)_n Ab_n^(a T)] Ab_n^b = Re (W @ V)[a, b],

    with ``W`` of shape (ceil(L / T), N) and ``V`` of shape (N, T): one small matrix
    product whose (ceil(L / T), T) result, read row by row, is K (cut to length L).
    Same arithmetic per entry as :func:`kernel_diag` (powers by ``exp(k log Ab)``).
    """
    func = "kernel_diag_factored"
    args = _check_diag(func, Lambda, B, C, dt, L, method)
    L = args[4]
    block = int(np.ceil(np.sqrt(L))) if block is None else check_int(func, "block", block, minimum=1)
    return _kernel_diag_factored(*args, block)


# --------------------------------------------------------------------------------------
# the LegS system in both forms (for checks and timings)
# --------------------------------------------------------------------------------------

# Compiled once per shape: much faster than op-by-op dispatch when called for many N and L.
_discretize_jit = jax.jit(_discretize.discretize, static_argnames="method")
_c_tilde_jit = jax.jit(c_tilde, static_argnums=2)


def legs_dplr_system(N: int, dt, C, L: int):
    """The bilinear LegS system twice: dense ``(Ab, Bb)`` and DPLR ``(Lambda, P, Q, B, Ct)``.

    The DPLR parameters are those of :func:`s4_minimal.hippo.legs_dplr` in its basis V
    (``Q = P``, ``B = V^H B_legs``) with ``Ct = C (I - Ab^L) V``, so that

        kernel_dplr(Lambda, P, Q, B, Ct, dt, L) == conv_kernel(Ab, Bb, C, L)

    to rounding. ``C`` is the real output vector (N,) of the dense system. The
    dense pair is in JAX's default precision; the DPLR arrays are complex NumPy.
    """
    N = check_int("legs_dplr_system", "N", N, minimum=1)
    C = check_array("legs_dplr_system", "C", C, shape=(N,))
    A, B = hippo.transition("legs", N)
    Lambda, P, B_v, V = hippo.legs_dplr(N)
    Ab, Bb = _discretize_jit(A, B, dt, method="bilinear")
    Ct = np.asarray(_c_tilde_jit(Ab, C, L)) @ V
    return (Ab, Bb), (Lambda, P, P, B_v, Ct)


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------

def _complex_dtype(*arrays):
    """The complex dtype matching the precision of ``arrays`` (complex128 only under x64)."""
    return jnp.result_type(*arrays, jnp.complex64)


def _check_stable(func, Lambda):
    """Refuse a diagonal with a non-negative real part (when its values are known)."""
    values = concrete(Lambda)
    if values is None:
        return
    if not np.all(np.real(values) < 0):
        worst = float(np.max(np.real(values)))
        fail(func, "Lambda",
             f"entries with negative real part (a stable diagonal; the largest real part "
             f"is {worst:.3g})", Lambda)


def _check_low_rank(func, name, value, N):
    """P or Q as an (r, N) array: (N,) means rank 1."""
    arr = check_array(func, name, value, ndim=(1, 2), complex_ok=True)
    if arr.shape[-1] != N:
        fail(func, name, f"shape ({N},) or (r, {N}) to match Lambda of length {N}", arr)
    return arr.reshape(-1, N)


def _check_diag(func, Lambda, B, C, dt, L, method):
    """Shared checks and casts of the diagonal kernels: arrays in one complex dtype."""
    method = check_choice(func, "method", method, DIAG_METHODS)
    Lambda = check_array(func, "Lambda", Lambda, ndim=1, complex_ok=True)
    N = Lambda.shape[0]
    B = check_array(func, "B", B, shape=(N,), complex_ok=True)
    C = check_array(func, "C", C, shape=(N,), complex_ok=True)
    dt = check_scalar(func, "dt", dt, positive=True)
    L = check_int(func, "L", L, minimum=1)
    _check_stable(func, Lambda)
    cdtype = _complex_dtype(Lambda, B, C, dt)
    dt = jnp.asarray(dt, jnp.finfo(cdtype).dtype)
    return Lambda.astype(cdtype), B.astype(cdtype), C.astype(cdtype), dt, L, method
