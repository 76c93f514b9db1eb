"""Native kernels for sorting and the matrix factorizations, on ``jax.numpy``/LAPACK.

corefw declares ``argsort`` and the ``linalg_*`` factorizations as composites: their
decompositions are portable (a rank by all-pairs comparison, cyclic Jacobi sweeps) but run
dozens of primitives, and Jacobi reads a value per sweep. JAX has a sort and LAPACK's
routines, so here each is one kernel. Results use the packed layouts the core expects
(docs/kernels.md; the same as corefw-cpu's NumPy kernels): ``linalg_eigh`` returns
``[w; V]``, ``linalg_svd`` ``[U; S; V]`` and ``linalg_qr`` ``[Q; R^T]`` stacked along the
second-to-last dim, ``linalg_slogdet`` ``[sign, logabsdet]`` along the last.

``linalg_solve`` and ``linalg_cholesky`` stay decomposed: LAPACK through JAX returns NaN for
a singular or indefinite matrix where NumPy raises, and the decompositions keep corefw's
errors.
"""

from __future__ import annotations

__all__ = ["linalg_kernels"]


def linalg_kernels(jnp) -> dict:
    """The kernels, over the ``jax.numpy`` module ``jnp``."""
    la = jnp.linalg

    def argsort(x, descending, dim):
        """A stable sort's permutation; NaN last (first when descending), as PyTorch's."""
        if not descending:
            return jnp.argsort(x, axis=dim, stable=True).astype(jnp.int64)
        # stable descending: sort the reversed array, reverse back and mirror the indices
        r = jnp.flip(jnp.argsort(jnp.flip(x, dim), axis=dim, stable=True), dim)
        return (x.shape[dim] - 1 - r).astype(jnp.int64)

    def slogdet(a):
        sign, logabs = la.slogdet(a)
        return jnp.stack([sign, logabs], -1).astype(a.dtype)

    def eigh(a, upper):
        # LAPACK reads one triangle, as NumPy's; JAX would average it with the other
        w, v = la.eigh(a, UPLO="U" if upper else "L", symmetrize_input=False)
        return jnp.concatenate([w[..., None, :], v], -2)

    def svd(a):
        u, s, vh = la.svd(a, full_matrices=False)
        return jnp.concatenate([u, s[..., None, :], jnp.swapaxes(vh, -1, -2)], -2)

    def qr(a):
        q, r = la.qr(a)
        return jnp.concatenate([q, jnp.swapaxes(r, -1, -2)], -2)

    return {"argsort": argsort, "linalg_slogdet": slogdet, "linalg_eigh": eigh,
            "linalg_svd": svd, "linalg_qr": qr}
