"""Adam over flat vectors, in cache-sized pieces: the speed kernel of ``optim.Adam.step``.

Where this sits: minigan/fast/ (speed, arrays only). The lesson is ``minigan/optim.py``, whose
``with mg.textbook():`` branch is the paper's four lines per parameter:

    m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   m_hat = m / (1 - b1^t);   v_hat = v / (1 - b2^t)
    p <- p - lr * m_hat / (sqrt(v_hat) + eps)

Here every parameter is updated at once: m, v and the gradients laid end to end in flat (P,) vectors
(``flat_offsets`` / ``flat_views``; parallel/distributed.py all-reduces the gradients in the same
layout), both bias corrections folded into the step size and eps (the form at the end of section 2 of
the Adam paper: the same numbers up to rounding), and each line one in-place pass.
"""


from minigan.backend import backend_of

ADAM_PIECE = 1 << 16      # floats per piece of Adam's update on NumPy (256 KB of float32: see adam_step)


def flat_offsets(params):
    """[0, n_0, n_0 + n_1, ...]: in a flat vector of all parameters, parameter i is [offsets[i], offsets[i+1])."""
    offsets = [0]
    for p in params:
        offsets.append(offsets[-1] + p.data.size)
    return offsets


def flat_views(flat, params, offsets):
    """Views of ``flat`` (P,), one per parameter in its shape: [flat[offsets[i]:offsets[i+1]] ...]."""
    return [flat[a:b].reshape(p.shape) for p, a, b in zip(params, offsets, offsets[1:])]


def adam_step(xp, m, v, g, b1, b2, eps_hat, step_size):
    """Update m and v in place and return the step lr * m_hat / (sqrt(v_hat) + eps), written into g.

    ``g`` is a scratch copy of the gradient (contiguous, like m and v): it is overwritten with the
    step, and one piece of scratch memory holds g^2 and then sqrt(v_hat) + eps.

    Why in pieces: each line below is one pass over the vectors. On the CPU a whole vector (3 M
    floats, 12 MB for the DCGAN's G) does not fit in the cache, so all 11 passes would go to main
    memory; pieces of ADAM_PIECE floats (256 KB) stay in the cache from the first line to the
    last, and only the first read and the last write of each piece touch main memory. On a GPU
    each line is a kernel launch, so there the whole vector is one piece.
    """
    piece = ADAM_PIECE if backend_of(g) == "numpy" else g.size
    m, v, g_all = m.reshape(-1), v.reshape(-1), g.reshape(-1)   # (P,) views of the same memory
    scratch = xp.empty(min(piece, g_all.size), dtype=g.dtype)
    for a in range(0, g_all.size, piece):
        mi, vi, gi = m[a:a + piece], v[a:a + piece], g_all[a:a + piece]
        tmp = scratch[:gi.size]
        xp.multiply(gi, gi, out=tmp)                             # g^2
        tmp *= 1 - b2
        vi *= b2
        vi += tmp                                                # v <- b2 v + (1 - b2) g^2
        gi *= 1 - b1
        mi *= b1
        mi += gi                                                 # m <- b1 m + (1 - b1) g
        xp.sqrt(vi, out=tmp)
        tmp += eps_hat                                           # sqrt(v) + eps_hat
        xp.divide(mi, tmp, out=gi)
        gi *= step_size                                          # = lr * m_hat / (sqrt(v_hat) + eps)
    return g
