"""A direct NumPy implementation of the LRP rules, for tests only.

Written from Arras et al.'s reference code (`lrp_linear` with explicit
message matrices, one example at a time, full weight matrices), not from
`ttrnn.explain`: the TT models are compared through their dense
equivalents (`to_dense`).
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def lrp_linear(hin, w, b, hout, rout, bias_nb_units, eps, bias_factor):
    """Arras et al.'s rule: hin (D,), w (D, M), b (M,), hout (M,)."""
    sign_out = np.where(hout[None, :] >= 0, 1.0, -1.0)
    numer = w * hin[:, None] + (
        bias_factor * (b[None, :] + eps * sign_out) / bias_nb_units
    )
    denom = hout[None, :] + eps * sign_out
    return (numer / denom * rout[None, :]).sum(axis=1)


def dense_relevance(x, w, b, relevance, eps, bias_factor):
    """Rule through x @ w + b for a batch."""
    return np.stack(
        [
            lrp_linear(
                x[n],
                w,
                b,
                x[n] @ w + b,
                relevance[n],
                len(x[n]),
                eps,
                bias_factor,
            )
            for n in range(len(x))
        ]
    )


def rnn_relevance(
    kind, x, mask, W, U, b, rb, head, eps, bias_factor, reset_after=False
):
    """Relevance of one example's inputs x (T, D) through an LSTM, GRU
    (Keras gate orders) or SimpleRNN with tanh/sigmoid; `head(h_T)` gives
    the relevance of the last hidden state. Returns (R_x (T, D),
    R_initial)."""
    steps, d = x.shape
    e = U.shape[0]
    rb = np.zeros(U.shape[1]) if rb is None else rb
    h = [np.zeros(e)]
    c = [np.zeros(e)]
    saved = []
    for t in range(steps):
        hp, cp = h[-1], c[-1]
        if not mask[t]:
            h.append(hp)
            c.append(cp)
            saved.append(None)
            continue
        if kind == "lstm":
            pre = x[t] @ W + hp @ U + b
            i, f = sigmoid(pre[:e]), sigmoid(pre[e : 2 * e])
            g, o = np.tanh(pre[2 * e : 3 * e]), sigmoid(pre[3 * e :])
            cn = f * cp + i * g
            saved.append(dict(i=i, f=f, g=g, pre=pre[2 * e : 3 * e], c=cn))
            c.append(cn)
            h.append(o * np.tanh(cn))
        elif kind == "gru":
            xz = x[t] @ W + b
            rec = hp @ U + rb
            z = sigmoid(xz[:e] + rec[:e])
            r = sigmoid(xz[e : 2 * e] + rec[e : 2 * e])
            if reset_after:
                pre = xz[2 * e :] + r * rec[2 * e :]
            else:
                pre = xz[2 * e :] + (r * hp) @ U[:, 2 * e :]
            hh = np.tanh(pre)
            hn = z * hp + (1 - z) * hh
            saved.append(dict(z=z, r=r, hh=hh, pre=pre, h=hn))
            h.append(hn)
            c.append(cp)
        else:
            pre = x[t] @ W + hp @ U + b
            saved.append(dict(pre=pre))
            h.append(np.tanh(pre))
            c.append(cp)
    r_x = np.zeros_like(x)
    rh, rc = head(h[-1]), np.zeros(e)
    for t in reversed(range(steps)):
        s = saved[t]
        if s is None:
            continue
        hp, cp = h[t], c[t]
        if kind == "lstm":
            rc = rc + rh
            ident, zero = np.identity(e), np.zeros(e)
            rc_prev = lrp_linear(
                s["f"] * cp, ident, zero, s["c"], rc, 2 * e, eps, bias_factor
            )
            rg = lrp_linear(
                s["i"] * s["g"],
                ident,
                zero,
                s["c"],
                rc,
                2 * e,
                eps,
                bias_factor,
            )
            sl = slice(2 * e, 3 * e)
            r_x[t] = lrp_linear(
                x[t], W[:, sl], b[sl], s["pre"], rg, d + e, eps, bias_factor
            )
            rh = lrp_linear(
                hp, U[:, sl], b[sl], s["pre"], rg, d + e, eps, bias_factor
            )
            rc = rc_prev
        elif kind == "gru":
            ident, zero = np.identity(e), np.zeros(e)
            rh_dir = lrp_linear(
                s["z"] * hp, ident, zero, s["h"], rh, 2 * e, eps, bias_factor
            )
            rhh = lrp_linear(
                (1 - s["z"]) * s["hh"],
                ident,
                zero,
                s["h"],
                rh,
                2 * e,
                eps,
                bias_factor,
            )
            sl = slice(2 * e, 3 * e)
            if reset_after:
                bias = b[sl] + s["r"] * rb[sl]
                u_eff = U[:, sl] * s["r"][None, :]
                hin = hp
            else:
                bias = b[sl]
                u_eff = U[:, sl]
                hin = s["r"] * hp
            r_x[t] = lrp_linear(
                x[t], W[:, sl], bias, s["pre"], rhh, d + e, eps, bias_factor
            )
            rh = rh_dir + lrp_linear(
                hin, u_eff, bias, s["pre"], rhh, d + e, eps, bias_factor
            )
        else:
            r_x[t] = lrp_linear(
                x[t], W, b, s["pre"], rh, d + e, eps, bias_factor
            )
            rh = lrp_linear(hp, U, b, s["pre"], rh, d + e, eps, bias_factor)
    return r_x, rh.sum() + rc.sum()


def elementwise_relevance(x, a, shift, relevance, eps, bias_factor):
    """Rule through y = a * x + shift, each output fed by one input."""
    y = a * x + shift
    sign = np.where(y >= 0, 1.0, -1.0)
    numer = a * x + bias_factor * (shift + eps * sign)
    return numer / (y + eps * sign) * relevance
