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
    """Activation -> (forward into `out`, derivative from the output)."""

    def hard_sigmoid(x, out):
        return torch.mul(x, 0.2, out=out).add_(0.5).clamp_(0.0, 1.0)

    def hard_sigmoid_grad(y):
        return ((y > 0) & (y < 1)).to(y.dtype).mul_(0.2)

    return {
        keras.activations.tanh: (
            lambda x, out: torch.tanh(x, out=out),
            lambda y: 1 - y * y,
        ),
        keras.activations.sigmoid: (
            lambda x, out: torch.sigmoid(x, out=out),
            lambda y: y * (1 - y),
        ),
        activations.keras2_hard_sigmoid: (hard_sigmoid, hard_sigmoid_grad),
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
            ctx.save_for_backward(x, kernel, *buffers)
            ctx.extra = (masks, steps, backwards, last, options)
            ctx.has_bias = bias is not None
            return buffers[0][1:]

        @staticmethod
        def backward(ctx, d_states):
            x, kernel, *buffers = ctx.saved_tensors
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


def _forward(x, h0, kernel, bias, masks, steps, backwards, options):
    """The loop without autograd: (states (T + 1, B, H) from h0, z and r
    (T, 2, B, H), hh (T, B, H), and q = h-gate's recurrent term with
    `reset_after` or r * h (* mask) without), in run order."""
    import torch

    u, reset_after, (act, _), (rec, _) = options
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
    if bias is not None:
        bias_zr, bias_h = bias[: 2 * u].view(2, 1, u), bias[2 * u :]
    for i in range(time):
        t = time - 1 - i if backwards else i
        xt, h = x[:, t], states[i]
        x_zr = xt[:, : 2 * u].view(batch, 2, u).transpose(0, 1)
        if masks is None and reset_after:
            if bias is None:
                inner = torch.mm(h, kernel)
            else:
                inner = torch.addmm(bias, h, kernel)
            pre = x_zr + inner[:, : 2 * u].view(batch, 2, u).transpose(0, 1)
            q[i] = inner[:, 2 * u :]
        elif masks is None:
            pre = torch.baddbmm(x_zr, h.expand(2, batch, u), per_gate[:2])
        else:
            pre = torch.baddbmm(x_zr, h * masks[:2], per_gate[:2])
        if bias is not None and masks is not None:
            pre += bias_zr
        rec(pre, zr[i])
        z, r = zr[i, 0], zr[i, 1]
        if reset_after:
            if masks is not None:
                torch.mm(h * masks[2], per_gate[2], out=q[i])
                if bias is not None:
                    q[i] += bias_h
            a = torch.addcmul(xt[:, 2 * u :], r, q[i])
        else:
            torch.mul(r, h, out=q[i])
            if masks is not None:
                q[i] *= masks[2]
            a = torch.addmm(xt[:, 2 * u :], q[i], per_gate[2])
        act(a, hh[i])
        if steps is None:
            torch.lerp(hh[i], h, z, out=states[i + 1])
        else:
            torch.where(steps[i], torch.lerp(hh[i], h, z), h, out=states[i + 1])
    return states, zr, hh, q


def _backward(d_states, kernel, buffers, masks, steps, backwards, last, opts):
    """The reverse loop: (d_x, d_h0, d_kernel, d_bias)."""
    import torch

    states, zr, hh, q = buffers
    u, reset_after, (_, act_grad), (_, rec_grad) = opts
    time, batch = hh.shape[0], hh.shape[1]
    h_prev, z, r = states[:-1], zr[:, 0], zr[:, 1]
    # The factors that do not depend on the state's gradient, for all
    # steps at once; a masked step's are zero (its state is the previous
    # one: z counts as 1 for the carry).
    f_z = (h_prev - hh) * rec_grad(z)
    f_h = (1 - z) * act_grad(hh)
    z_keep = z
    if steps is not None:
        f_z *= steps
        f_h *= steps
        z_keep = torch.where(steps, z, 1.0)
    if reset_after:
        # d_z, d_r and d_q are the step's state gradient times these.
        factors = [f_z, f_h * q * rec_grad(r), f_h * r]
    else:
        factors = [f_z, f_h]  # d_z and d_h; d_r after a GEMM
        g_r = h_prev * rec_grad(r)
        if masks is not None:
            g_r *= masks[2]
            r = r * masks[2]
    # Gate gradients, gate-major: (3, T, B, H).
    d_gates = hh.new_empty((3, time, batch, u))
    factors = torch.stack(factors)
    per_gate_t = kernel.view(u, 3, u).permute(1, 2, 0).contiguous()
    d = states.new_empty((time + 1, batch, u))  # d[i + 1]: step i's
    d[time] = d_states[time - 1]
    for i in range(time - 1, -1, -1):
        di, out = d[i + 1], d[i]
        if reset_after:
            torch.mul(di, factors[:, i], out=d_gates[:, i])
            count = 3
        else:
            torch.mul(di, factors[:, i], out=d_gates[::2, i])
            d_rh = torch.mm(d_gates[2, i], per_gate_t[2])
            torch.mul(d_rh, g_r[i], out=d_gates[1, i])
            count = 2
        through = torch.bmm(d_gates[:count, i], per_gate_t[:count])
        if masks is not None:
            through *= masks[:count]
        torch.sum(through, 0, out=out)
        out.addcmul_(di, z_keep[i])
        if not reset_after:
            out.addcmul_(d_rh, r[i])
        if i > 0 and not last:
            out += d_states[i - 1]
    # The kernel's gradient: one GEMM a gate over all steps and rows.
    rows = time * batch
    inputs = h_prev.unsqueeze(0).expand(3, time, batch, u)
    if masks is not None:
        inputs = inputs * masks.unsqueeze(1)
    if not reset_after:
        inputs = torch.cat([inputs[:2], q.unsqueeze(0)])
    flat = d_gates.view(3, rows, u)
    d_kernel = torch.bmm(inputs.reshape(3, rows, u).transpose(1, 2), flat)
    d_kernel = d_kernel.transpose(0, 1).reshape(u, 3 * u)
    d_bias = flat.sum(1).reshape(3 * u)
    if reset_after:  # the input's h-gate gradient is d * f_h, not d_q
        d_gates[2] = d[1:] * f_h
    d_x = d_gates.permute(2, 1, 0, 3)
    if backwards:
        d_x = d_x.flip(1)
    return d_x.reshape(batch, time, 3 * u), d[0], d_kernel, d_bias
