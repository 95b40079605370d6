"""The recurrence's loop per backend, where Keras' own loop costs
measurably more (behind one small seam; the layers fall back to Keras'
loop elsewhere).

- `torch_rnn`: Keras' torch `rnn` loop with fewer ops a step.
- `torch_gru_step`: the TT-GRU's step as direct torch calls.
- `xla_rnn`: TensorFlow's loop compiled by XLA inside traced functions.
"""

import keras


def torch_rnn(
    step,
    inputs,
    initial_states,
    go_backwards=False,
    mask=None,
    zero_output_for_mask=False,
    return_all_outputs=True,
):
    """Keras' torch `rnn` loop (not unrolled) for one input tensor
    (batch, time, features) and a list of state tensors, with the same
    results: masked steps keep the previous output (or zeros with
    `zero_output_for_mask`) and the previous states. It broadcasts the
    (batch, 1) step mask instead of tiling it, and runs no extra first
    step to learn the output's structure, as Keras' loop does.

    Returns:
        `(last_output, outputs, states)` as Keras' loop: `outputs`
        (batch, time, units), or (batch, 1, units) without
        `return_all_outputs`, in the order the steps ran.
    """
    import torch

    steps = torch.unbind(inputs, 1)
    masks = None
    if mask is not None:
        masks = torch.unbind(mask.to(torch.bool).unsqueeze(-1), 1)
    order = range(len(steps))
    if go_backwards:
        order = reversed(order)
    states, outputs, prev = list(initial_states), [], None
    for t in order:
        output, new_states = step(steps[t], states)
        if masks is not None:
            if prev is None or zero_output_for_mask:
                prev = torch.zeros_like(output)
            output = torch.where(masks[t], output, prev)
            new_states = [
                torch.where(masks[t], n, s) for n, s in zip(new_states, states)
            ]
        states, prev = list(new_states), output
        outputs.append(output)
    if not return_all_outputs:
        outputs = outputs[-1:]
    return prev, torch.stack(outputs, 1), states


def torch_gru_step(weights, units, reset_after, activation, recurrent):
    """`TTGRUCell.projected_step` as direct torch calls, or None (not
    torch, or an activation without a torch form here).

    Each `keras.ops` call on torch costs ~15-20 us of Python (argument
    conversion, dtype resolution); Keras' form of the step makes ~22 a
    step, whose cost the recurrence pays 256-1,492 times a batch. This
    one makes ~11: the masked z and r matmuls as one batched GEMM that
    adds the projected inputs (`baddbmm`), h's matmul adding its input
    (`addmm`), and h_t = hh + z (h_{t-1} - hh) as one `lerp`.

    Args:
        weights: `TTGRUCell.step_weights`'s dict.
        units: the cell's units.
        reset_after: the cell's `reset_after`.
        activation, recurrent: the cell's activations (`tanh`,
            `sigmoid` or `keras2_hard_sigmoid` have torch forms).

    Returns:
        `step(projected, h_tm1) -> h_t`, or None.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch

    from ttrnn import activations

    forms = {
        keras.activations.tanh: torch.tanh,
        keras.activations.sigmoid: torch.sigmoid,
        activations.keras2_hard_sigmoid: lambda x: torch.clamp(
            x.mul(0.2).add_(0.5), 0.0, 1.0
        ),
    }
    act, rec = forms.get(activation), forms.get(recurrent)
    if act is None or rec is None:
        return None
    u, masks, bias = units, weights["masks"], weights["bias"]
    kernels = weights["kernels"]
    if masks is not None:
        zr_kernels = torch.stack(kernels[:2])  # (2, units, units)
        zr_masks = torch.stack(masks[:2])  # (2, batch, units)
    if bias is not None:
        bias_zr = bias[: 2 * u].view(2, 1, u)

    def step(x, h):
        x_zr = x[:, : 2 * u].view(-1, 2, u).transpose(0, 1)
        if masks is None:
            inner = torch.matmul(h, weights["kernel"])
            pre = x_zr + inner[:, : 2 * u].view(-1, 2, u).transpose(0, 1)
            h_h = h
        else:
            pre = torch.baddbmm(x_zr, h * zr_masks, zr_kernels)
            h_h = h * masks[2]
        if bias is not None:
            pre = pre + bias_zr
        zr = rec(pre)
        z, r = zr[0], zr[1]
        if reset_after:
            if masks is None:
                rec_h = inner[:, 2 * u :]
            else:
                rec_h = torch.matmul(h_h, kernels[2])
            if bias is not None:
                rec_h = rec_h + bias[2 * u :]
            hh = act(torch.addcmul(x[:, 2 * u :], r, rec_h))
        else:
            hh = act(torch.addmm(x[:, 2 * u :], r * h_h, kernels[2]))
        return torch.lerp(hh, h, z)

    return step


def xla_rnn(rnn, step, weights, inputs, initial_states, mask=None, **kwargs):
    """`rnn(lambda x, s: step(x, s, weights), inputs, initial_states,
    mask=mask, **kwargs)` on TensorFlow, forward and backward each one
    XLA computation (`tf.function(jit_compile=True)`, compiled once per
    input shape).

    TensorFlow's executor dispatches every op of a `tf.while_loop` step
    one by one: the paper TT-GRU's recurrence cost ~1.35 ms a step
    forward+backward whatever the batch, so its 1,492-frame buckets of 5
    clips ran the recurrence at a third of the 16-clip buckets' rate a
    frame (RESULTS.md, "TensorFlow epoch"). XLA compiles the loop into one
    native loop. A while loop's gradient keeps per-step values in
    TensorLists, which cannot cross from an XLA computation back into
    TensorFlow, so the backward recomputes the (cheap) forward inside its
    own XLA computation (a `tf.custom_gradient`) instead of reading the
    forward's.

    Args:
        rnn: Keras' TensorFlow `rnn` loop.
        step: `step(x_t, states, weights)` -> `(output, new_states)`.
        weights: a nest of tensors (or None) `step` reads: they enter the
            computation as arguments, so they get their gradients.
        inputs, initial_states, mask, kwargs: as `rnn`'s.

    Returns:
        `rnn`'s `(last_output, outputs, states)`.
    """
    import tensorflow as tf

    leaves = tf.nest.flatten(weights)
    count = len(initial_states)
    args = [inputs, *initial_states, *[w for w in leaves if w is not None]]
    # Tensors, not variables (a stateful layer's states): a
    # tf.custom_gradient function must not read variables.
    args = [tf.convert_to_tensor(a) for a in args]

    def run(*args):
        rest = iter(args[1 + count :])
        w = [None if leaf is None else next(rest) for leaf in leaves]
        w = tf.nest.pack_sequence_as(weights, w)
        out = rnn(
            lambda x, s: step(x, s, w),
            args[0],
            list(args[1 : 1 + count]),
            mask=mask,
            **kwargs,
        )
        return tf.nest.flatten(out)

    def gradients(args, upstream):
        with tf.GradientTape() as tape:
            tape.watch(args)
            outs = run(*args)
        return tape.gradient(
            outs,
            args,
            output_gradients=upstream,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    forward = tf.function(run, jit_compile=True, autograph=False)
    backward = tf.function(gradients, jit_compile=True, autograph=False)

    @tf.custom_gradient
    def call(*args):
        outs = forward(*args)

        def grad(*upstream):
            upstream = [
                tf.zeros_like(o) if u is None else u
                for o, u in zip(outs, upstream)
            ]
            return backward(list(args), upstream)

        return outs, grad

    last, outputs, *new_states = call(*args)
    return last, outputs, new_states
