"""The TT-GRU's recurrence on torch as one autograd Function over the
whole sequence (`gru_sequence`).

`recurrence_loops.torch_rnn` with `torch_gru_step` lets autograd record
every step's ~11 ops: its backward then walks ~30 nodes a step and
computes the recurrent kernel's gradient step by step (a small GEMM a
gate and step, summed in place). Here the forward runs the loop without
autograd into preallocated (time, batch, units) buffers, and the
backward is written by hand: the reverse loop does only what depends on
the step before (the gates' gradients and one GEMM against the
transposed kernel), every factor that does not is computed for all
steps at once before it, and the recurrent kernel's gradient is one GEMM
per gate over all steps and rows after it.
"""

import keras

from ttrnn import activations


def _forms(torch):
    """Activation -> (scale, shift, in-place form, derivative from the
    output): f(x) = form(scale * x + shift), the affine part folded into
    the step's GEMMs and the inputs."""

    def sigmoid_grad(y):  # y (1 - y)
        return torch.addcmul(y, y, y, value=-1)

    def hard_sigmoid_grad(y):  # 0.2 inside (0, 1), where y (1 - y) > 0
        return sigmoid_grad(y).sign_().mul_(0.2)

    return {
        keras.activations.tanh: (
            1.0,
            0.0,
            torch.tanh_,
            lambda y: torch.mul(y, y).neg_().add_(1),
        ),
        keras.activations.sigmoid: (1.0, 0.0, torch.sigmoid_, sigmoid_grad),
        activations.keras2_hard_sigmoid: (
            0.2,
            0.5,
            lambda y: y.clamp_(0.0, 1.0),
            hard_sigmoid_grad,
        ),
    }


def gru_sequence(kernel, weights, units, reset_after, activation, recurrent):
    """The TT-GRU's recurrence over a whole sequence on torch, or None
    (not torch, an activation without a torch form here, or a dtype other
    than float32 and float64).

    Args:
        kernel: the recurrent kernel (units, 3 units) as read in the
            layer's call.
        weights: `TTGRUCell.step_weights`'s dict ("masks": the recurrent
            dropout masks or None, "bias": the recurrent bias or None).
        units, reset_after: the cell's.
        activation, recurrent: the cell's activations (`tanh`, `sigmoid`
            or `keras2_hard_sigmoid` have torch forms).

    Returns:
        `run(projected, h0, mask, go_backwards, zero_output_for_mask,
        return_sequences)` -> `(last_output, outputs, [state])` as
        `recurrence_loops.torch_rnn`, or None.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch

    forms = _forms(torch)
    if activation not in forms or recurrent not in forms:
        return None
    if kernel.dtype not in (torch.float32, torch.float64):
        return None
    masks = weights["masks"]
    if masks is not None:
        masks = torch.stack(masks).to(kernel.dtype)
    options = (units, reset_after, forms[activation], forms[recurrent])

    def run(projected, h0, mask, go_backwards, zero_output, return_sequences):
        steps = None
        if mask is not None:  # (batch, time) -> (time, batch, 1), run order
            steps = mask.to(torch.bool).t().unsqueeze(-1)
            if go_backwards:
                steps = steps.flip(0)
        # Tensors, not a stateful layer's variables.
        h0 = torch.as_tensor(keras.ops.convert_to_tensor(h0))
        states = _GRUSequence.apply(
            projected,
            h0,
            kernel,
            weights["bias"],
            masks,
            steps,
            go_backwards,
            not return_sequences,
            options,
        )
        outputs = states
        if steps is not None:
            # A masked step keeps the previous output (zeros before the
            # first step that ran, or always with `zero_output_for_mask`).
            keep = steps if zero_output else steps.cummax(0).values
            outputs = torch.where(keep, states, 0.0)
        last = outputs[-1]
        if return_sequences:
            outputs = outputs.transpose(0, 1)
        else:
            outputs = last.unsqueeze(1)
        return last, outputs, [states[-1]]

    return run


def _sequence_function():
    import torch

    class GRUSequence(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx, x, h0, kernel, bias, masks, steps, backwards, last, options
        ):
            buffers = _forward(
                x, h0, kernel, bias, masks, steps, backwards, options
            )
            ctx.save_for_backward(kernel, *buffers)
            ctx.extra = (masks, steps, backwards, last, options)
            ctx.has_bias = bias is not None
            return buffers[0][1:]

        @staticmethod
        def backward(ctx, d_states):
            kernel, *buffers = ctx.saved_tensors
            grads = _backward(d_states, kernel, buffers, *ctx.extra)
            d_x, d_h0, d_kernel, d_bias = grads
            if not ctx.has_bias:
                d_bias = None
            return d_x, d_h0, d_kernel, d_bias, None, None, None, None, None

    return GRUSequence


class _LazyFunction:
    """`_sequence_function()`'s class, made on first use (torch imported
    only on the torch backend)."""

    function = None

    def apply(self, *args):
        if _LazyFunction.function is None:
            _LazyFunction.function = _sequence_function()
        return _LazyFunction.function.apply(*args)


_GRUSequence = _LazyFunction()


def _affine(x, scale, shift, bias=None):
    """scale * (x + bias) + shift, or x itself."""
    if bias is not None:
        x = x + bias
    if scale != 1.0:
        x = x * scale
    if shift != 0.0:
        x = x + shift
    return x


def _forward(x, h0, kernel, bias, masks, steps, backwards, options):
    """The loop without autograd: (states (T + 1, B, H) from h0, z and r
    (T, 2, B, H), hh (T, B, H), and q = h-gate's recurrent term with
    `reset_after` or r * h (* mask) without), in run order."""
    import torch

    u, reset_after, act, rec = options
    batch, time = x.shape[0], x.shape[1]
    new = x.new_empty
    states, zr, hh, q = (
        new((time + 1, batch, u)),
        new((time, 2, batch, u)),
        new((time, batch, u)),
        new((time, batch, u)),
    )
    states[0] = h0
    per_gate = kernel.view(u, 3, u).transpose(0, 1).contiguous()
    bias_zr = bias_h = None
    if bias is not None:
        bias_zr, bias_h = bias[: 2 * u], bias[2 * u :]
    # The inputs with the activations' affine parts (and the z and r
    # biases) folded in, once for all steps; per step views, run order.
    x_zr = _affine(x[:, :, : 2 * u], rec[0], rec[1], bias_zr)
    x_zr = x_zr.view(batch, time, 2, u).permute(1, 2, 0, 3).unbind(0)
    x_h = _affine(x[:, :, 2 * u :], act[0], act[1]).unbind(1)
    if backwards:
        x_zr, x_h = x_zr[::-1], x_h[::-1]
    s_, zr_, hh_, q_ = (b.unbind(0) for b in (states, zr, hh, q))
    z_, r_ = zr[:, 0].unbind(0), zr[:, 1].unbind(0)
    steps_ = None if steps is None else steps.unbind(0)
    k_zr, k_h = per_gate[:2], per_gate[2]
    m_zr = m_h = None
    if masks is not None:
        m_zr, m_h = masks[:2], masks[2]
    for i in range(time):
        h = s_[i]
        h_zr = h.expand(2, batch, u) if m_zr is None else h * m_zr
        torch.baddbmm(x_zr[i], h_zr, k_zr, alpha=rec[0], out=zr_[i])
        rec[2](zr_[i])
        if reset_after:
            h_h = h if m_h is None else h * m_h
            if bias_h is None:
                torch.mm(h_h, k_h, out=q_[i])
            else:
                torch.addmm(bias_h, h_h, k_h, out=q_[i])
            torch.addcmul(x_h[i], r_[i], q_[i], value=act[0], out=hh_[i])
        else:
            torch.mul(r_[i], h, out=q_[i])
            if m_h is not None:
                q_[i].mul_(m_h)
            torch.addmm(x_h[i], q_[i], k_h, alpha=act[0], out=hh_[i])
        act[2](hh_[i])
        if steps_ is None:
            torch.lerp(hh_[i], h, z_[i], out=s_[i + 1])
        else:
            h_new = torch.lerp(hh_[i], h, z_[i])
            torch.where(steps_[i], h_new, h, out=s_[i + 1])
    return states, zr, hh, q


def _backward(d_states, kernel, buffers, masks, steps, backwards, last, opts):
    """The reverse loop: (d_x, d_h0, d_kernel, d_bias)."""
    import torch

    states, zr, hh, q = buffers
    u, reset_after, act, rec = opts
    time, batch = hh.shape[0], hh.shape[1]
    h_prev, z, r = states[:-1], zr[:, 0], zr[:, 1]
    count = 3 if reset_after else 2
    # The factors that do not depend on the state's gradient, for all
    # steps at once (d_z, d_r and d_q with `reset_after`, else d_z and
    # d_h, are the step's state gradient times these); a masked step's
    # are zero (its state is the previous one: z counts as 1 for the
    # carry).
    rec_grad = rec[3](zr)
    factors = hh.new_empty((count, time, batch, u))
    torch.sub(h_prev, hh, out=factors[0]).mul_(rec_grad[:, 0])
    f_h = act[3](hh)
    f_h.addcmul_(z, f_h, value=-1)  # (1 - z) act'
    z_keep = z
    if steps is not None:
        factors[0].mul_(steps)
        f_h.mul_(steps)
        z_keep = torch.where(steps, z, 1.0)
    if reset_after:
        torch.mul(f_h, q, out=factors[1]).mul_(rec_grad[:, 1])
        torch.mul(f_h, r, out=factors[2])
    else:
        factors[1] = f_h
        g_r = rec_grad[:, 1].mul_(h_prev)  # d_r = d_rh * g_r
        if masks is not None:
            g_r.mul_(masks[2])
            r = r * masks[2]
    # Gate gradients, gate-major: (3, T, B, H).
    d_gates = hh.new_empty((3, time, batch, u))
    factors = factors.unbind(1)
    per_gate_t = kernel.view(u, 3, u).permute(1, 2, 0).contiguous()
    k_t = per_gate_t[:count]
    d = states.new_empty((time + 1, batch, u))  # d[i + 1]: step i's
    d[time] = d_states[time - 1]
    d_, d_in, zk_ = d.unbind(0), d_states.unbind(0), z_keep.unbind(0)
    dg_ = d_gates.unbind(1)
    through = hh.new_empty((count, batch, u))
    through_ = through.unbind(0)
    gates_m = [None] * count if masks is None else masks.unbind(0)
    if reset_after:
        factor_dst = dg_
    else:
        factor_dst = d_gates[::2].unbind(1)
        dg1_, dg2_, g_r_, r_ = (
            b.unbind(0) for b in (d_gates[1], d_gates[2], g_r, r)
        )
        k_h, d_rh = per_gate_t[2], hh.new_empty((batch, u))
    for i in range(time - 1, -1, -1):
        di, out = d_[i + 1], d_[i]
        torch.mul(di, factors[i], out=factor_dst[i])
        if not reset_after:
            torch.mm(dg2_[i], k_h, out=d_rh)
            torch.mul(d_rh, g_r_[i], out=dg1_[i])
        torch.bmm(dg_[i][:count], k_t, out=through)
        if i > 0 and not last:
            torch.addcmul(d_in[i - 1], di, zk_[i], out=out)
        else:
            torch.mul(di, zk_[i], out=out)
        for p, m in zip(through_, gates_m):
            if m is None:
                out += p
            else:
                out.addcmul_(p, m)
        if not reset_after:
            out.addcmul_(d_rh, r_[i])
    # The kernel's gradient: one GEMM a gate over all steps and rows.
    rows = time * batch
    flat = d_gates.view(3, rows, u)
    d_kernel, inputs = kernel.new_empty((3, u, u)), None
    for g in range(3):
        if g == 2 and not reset_after:
            inputs = q  # r * h (* mask)
        elif masks is None:
            inputs = h_prev
        else:
            inputs = torch.mul(h_prev, masks[g], out=inputs)
        torch.mm(inputs.view(rows, u).t(), flat[g], out=d_kernel[g])
    d_kernel = d_kernel.transpose(0, 1).reshape(u, 3 * u)
    d_bias = flat.sum(1).reshape(3 * u)
    if reset_after:  # the input's h-gate gradient is d * f_h, not d_q
        torch.mul(d[1:], f_h, out=d_gates[2])
    d_x = d_gates.permute(2, 1, 0, 3)
    if backwards:
        d_x = d_x.flip(1)
    return d_x.reshape(batch, time, 3 * u), d[0], d_kernel, d_bias
