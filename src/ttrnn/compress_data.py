"""Data-aware `compress(model, data=x)`: cores that keep each layer's
outputs on real inputs, ranks allocated by output error, distillation.

1. `collect`: one pass over the data through a functional probe of the
   original model (its chosen layers' inputs as outputs), batch by batch;
   each layer keeps only running sums: its input's per-mode second
   moments, the full M x M second moment when M <= FULL_METRIC_LIMIT, or
   for an embedding the count of every id.
2. `plan`: per layer, the whitened kernel W' = S W (`ttrnn.tt.whitening`,
   S the Kronecker square root of the per-mode moments), the spectra of
   its unfoldings normalised by its output energy, one greedy allocation
   of the whole budget over all layers and cuts, the TT-SVD of W' at
   those ranks, then for Dense / TTDense a local search over the ranks
   (`ttrnn.tt.rank_search`, candidates judged after one ALS sweep) and
   ALS sweeps over the cores in the exact moment (`ttrnn.tt.output_als`;
   `refine` steps for inputs too wide to keep it), and the cores
   unwhitened. An embedding instead gets near-uniform ranks within its
   share and a row-weighted ALS (`ttrnn.tt.weighted_als`) in the metric
   diag(token frequency). The result feeds the converters
   (`Options.cores`).
3. `distill`: optional steps of MSE on the original model's outputs.
"""

import itertools
import math

import keras
import numpy as np

from ttrnn import compress_embedding
from ttrnn import tt
from ttrnn.tt import factorize
from ttrnn.tt import output_als
from ttrnn.tt import rank_search
from ttrnn.tt import whitening
from ttrnn.tt.rounding import dense_numpy
from ttrnn.tt.spec import DEFAULT_LOOKUP_D

# Inputs up to this width keep their full second moment (M^2 floats) for
# the exact output error and `refine`; wider ones use the Kronecker one.
FULL_METRIC_LIMIT = 4096
# Kernels up to this many entries are formed densely (TTDense layers).
DENSE_LIMIT = 1 << 24
REFINE_STEPS = 200
# ... but at most REFINE_WORK / (M N) of them: each is a TT-SVD of M x N.
REFINE_WORK = 1e8
ARRAY_BATCH = 256
# Dense / TTDense layers with the full moment: ALS sweeps over the cores.
ALS_SWEEPS = 5
# The rank search judges up to `rank_search.MAX_JUDGED` ranks (one ALS
# sweep each, ~M^2 work) for inputs up to this wide, fewer above (down to
# its two starts).
SEARCH_ROWS = 1024


def is_data_aware(layer):
    """Whether `compress(data=)` whitens this layer (else plain TT-SVD)."""
    if _is_tt_dense(layer):
        return len(layer.cores) == len(layer.tt_input_shape)
    return type(layer) in (keras.layers.Dense, keras.layers.Embedding)


def rounded(layer, caps, options):
    """A TT layer at lower ranks: with the cores `plan` chose (a layer of
    their ranks, then their values), else `layer.round`."""
    given = (options.cores or {}).get(layer.name)
    if given is None:
        return layer.round(max_rank=caps, eps=options.eps, name=layer.name)
    new = layer.round(max_rank=tt.cores_modes(given)[2], name=layer.name)
    dtype = new.cores[0].dtype
    rest = new.get_weights()[len(given) :]
    new.set_weights([np.asarray(c, dtype) for c in given] + rest)
    return new


def batches(data, batch_size=ARRAY_BATCH):
    """Input batches of `data`: an array or a list of arrays (a model's
    inputs, cut into batches), an `(x, y)` tuple of those, a
    `keras.utils.PyDataset`, or any iterable of `x` or `(x, y, ...)`
    batches (tf.data, a torch DataLoader, a generator).
    """
    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        if count is None:
            raise ValueError(
                "Argument `data` must be a finite PyDataset. Received: a "
                "PyDataset without `__len__`"
            )
        for i in range(count):
            yield _inputs(data[i])
        return
    if isinstance(data, tuple) and len(data) in (2, 3):
        data = data[0]  # (x, y) or (x, y, sample_weight)
    if _is_array(data) or (
        isinstance(data, list) and data and all(map(_is_array, data))
    ):
        parts = data if isinstance(data, list) else [data]
        for start in range(0, len(parts[0]), batch_size):
            cut = [p[start : start + batch_size] for p in parts]
            yield cut if isinstance(data, list) else cut[0]
        return
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise ValueError(
            "Argument `data` must be an array, an (x, y) tuple, a "
            "PyDataset or an iterable of batches. Received: data of type "
            f"{type(data).__name__}"
        )
    for item in data:
        yield _inputs(item)


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "__len__")


def _inputs(item):
    return item[0] if isinstance(item, tuple) else item


class _Stats:
    """Running sums of one layer's inputs."""

    def __init__(self, layer, in_shape, rows):
        self.layer, self.in_shape, self.rows = layer, in_shape, rows
        self.embedding = isinstance(layer, keras.layers.Embedding)
        self.count, self.total = 0, 0.0
        self.modes = [np.zeros((m, m)) for m in in_shape]
        self.full = None
        if self.embedding:
            self.ids = np.zeros(rows)
        elif rows <= FULL_METRIC_LIMIT:
            self.full = np.zeros((rows, rows))

    def add(self, x):
        x = np.asarray(keras.ops.convert_to_numpy(x))
        if self.embedding:
            ids = x.reshape(-1).astype("int64")
            if self.layer.mask_zero:
                ids = ids[ids != 0]
            self.ids += np.bincount(ids, minlength=self.rows)[: self.rows]
            self.count += len(ids)
            self.total += len(ids)
            return
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)
        self.count += len(x)
        self.total += float(np.sum(x * x))
        parts = whitening.mode_moments(x, self.in_shape)
        for acc, part in zip(self.modes, parts):
            acc += part
        if self.full is not None:
            self.full += x.T @ x


def _layer_shapes(layer, options):
    """(matrix, in modes, out modes, dense size) of a data-aware layer."""
    if _is_tt_dense(layer):
        ins, outs = layer.tt_input_shape, layer.tt_output_shape
        if math.prod(ins) * math.prod(outs) > DENSE_LIMIT:
            return None
        cores = [keras.ops.convert_to_numpy(c) for c in layer.cores]
        return dense_numpy(cores), ins, outs, math.prod(ins) * math.prod(outs)
    if isinstance(layer, keras.layers.Embedding):
        table = keras.ops.convert_to_numpy(layer.embeddings)
        vocab, dim = table.shape
        d = options.d or DEFAULT_LOOKUP_D
        padded, ins = factorize.suggest_padding(vocab, d)
        outs = factorize.embedding_modes(dim, d)
        matrix = np.zeros((padded, dim))
        matrix[:vocab] = table
        return matrix, tuple(ins), tuple(outs), vocab * dim
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    ins, outs = factorize.auto_shapes(*kernel.shape, options.d)
    return kernel, tuple(ins), tuple(outs), kernel.size


def collect(model, layers, data, options):
    """`{layer name: _Stats}` from one pass over `data`; layers whose
    input is not a tensor of the model's graph (nested models, shared
    layers) or whose dims do not factor are left out."""
    stats, probes = {}, []
    for layer in layers:
        try:
            shapes = _layer_shapes(layer, options)
            probe = layer.input
        except (ValueError, AttributeError):
            continue
        if shapes is None or not keras.backend.is_keras_tensor(probe):
            continue
        stats[layer.name] = _Stats(layer, shapes[1], len(shapes[0]))
        stats[layer.name].shapes = shapes
        probes.append((layer.name, probe))
    if not probes:
        return stats
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        sub = keras.Model(inputs, [p for _, p in probes])
    except ValueError:
        return {}
    seen = False
    for x in batches(data):
        outs = sub(x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for (name, _), value in zip(probes, outs):
            stats[name].add(value)
        seen = True
    if not seen:
        raise ValueError("Argument `data` must hold at least one batch.")
    return stats


def _prepare(stat):
    """Whitened kernel, inverse roots, metric, its top, output energy."""
    matrix, ins, outs, _ = stat.shapes
    n = max(stat.count, 1)
    if stat.embedding:
        # The metric is diag(frequency): `refine` handles it exactly. A
        # Kronecker (per-digit) whitening would only widen its range.
        weights = stat.ids / n
        roots = inverses = [np.eye(m) for m in ins]

        def metric(e):
            return weights[:, None] * e

        top = float(weights.max())
    else:
        moments = [m / n for m in stat.modes]
        roots, inverses = whitening.kron_roots(moments, stat.total / n)
        if stat.full is not None:
            a, top = _whitened_moment(stat, inverses)

            def metric(e):
                return a @ e

        else:

            def metric(e):
                return e

            top = 1.0
    white = matrix
    if not stat.embedding:
        white = whitening.apply_rows(matrix, roots, ins)
    energy = whitening.output_loss(white, metric)
    return white, inverses, metric, top, energy


def _whitened_moment(stat, inverses):
    """The full second moment in whitened coordinates, S^{-1} C S^{-1},
    and its largest eigenvalue; kept on `stat` for `_refine_dense`."""
    n = max(stat.count, 1)
    ins = stat.in_shape
    a = whitening.apply_rows(stat.full / n, inverses, ins)
    a = whitening.apply_rows(a.T, inverses, ins)
    # PSD by construction; rounding can leave tiny negative
    # eigenvalues (huge S_k^{-1} where the data never goes).
    lam, u = np.linalg.eigh((a + a.T) / 2)
    lam = np.maximum(lam, 0.0)
    stat.whitened = (u * lam) @ u.T
    return stat.whitened, float(lam[-1])


def _refine_dense(
    stat, found, white, metric, top, steps, budget=None, caps=None
):
    """A Dense / TTDense layer's cores refined in its exact output
    metric: ALS sweeps over the cores when the full moment is kept,
    else (the Kronecker metric, already exact for the TT-SVD) the
    majorise-minimise steps. Returns `(cores, loss)`.

    When the full moment is the Kronecker one (white inputs), the TT-SVD
    is kept. Under a `budget` (core weights, else None; `caps`: None or
    d + 1 ints capping the ranks), the allocated
    ranks (from the Kronecker spectra) and near-uniform ranks of the same
    weight count start a local search that moves weight between cuts
    (`ttrnn.tt.rank_search`), each candidate judged by its output error
    after one ALS sweep; the best goes on."""
    a = getattr(stat, "whitened", None)
    if a is None:
        return whitening.refine(found, white, metric, top, steps)
    if np.linalg.norm(a - np.trace(a) / len(a) * np.eye(len(a))) <= (
        1e-6 * np.linalg.norm(a)
    ):
        # The Kronecker whitening is exact (white inputs): the TT-SVD
        # of the whitened kernel is the answer, as plain TT-SVD is for W.
        return found, whitening.output_loss(white - dense_numpy(found), metric)
    if budget is None:
        found, losses = output_als.als(found, white, a, sweeps=ALS_SWEEPS)
        return found, losses[-1]
    _, ins, outs, _ = stat.shapes
    ranks = tuple(tt.cores_modes(found)[2])

    def judge(trial):
        start = found
        if trial != ranks:
            start = tt.from_dense(white, ins, outs, max_rank=trial)
        cores, losses = output_als.als(start, white, a, sweeps=1)
        return losses[-1], cores

    even = factorize.ranks_for_budget(
        ins, outs, max_params=tt.num_params(ins, outs, ranks)
    )
    if caps is not None:
        even = tuple(min(r, c) for r, c in zip(even, caps))
    most = rank_search.MAX_JUDGED * (SEARCH_ROWS / len(a)) ** 2
    most = max(2, min(rank_search.MAX_JUDGED, int(most)))
    _, _, found = rank_search.search(
        [ranks, tuple(even)], ins, outs, budget, judge, caps=caps, most=most
    )
    found, more = output_als.als(found, white, a, sweeps=ALS_SWEEPS - 1)
    return found, more[-1]


def plan(stats, options, refine_steps=None):
    """Data-aware cores for every layer in `stats`.

    Returns:
        `(cores, errors)`: `{name: list of cores}` for the converters and
        `{name: relative output error on the data}`.
    """
    names = list(stats)
    prepared = {name: _prepare(stats[name]) for name in names}
    ranks = {name: options.max_rank for name in names}
    caps, slack = [None] * len(names), None
    if options.max_params is not None or options.compression is not None:
        budget, shapes, spectra, caps = 0, [], [], []
        for name in names:
            _, ins, outs, size = stats[name].shapes
            white, _, _, _, energy = prepared[name]
            if options.max_params is not None:
                budget += options.max_params
            else:
                budget += int(size // options.compression)
            shapes.append((ins, outs))
            weighted = white
            if stats[name].embedding:  # the output metric's spectrum
                freq = stats[name].ids / max(stats[name].count, 1)
                weighted = white * np.sqrt(freq)[:, None]
            spec = whitening.unfolding_spectra(weighted, ins, outs)
            spectra.append([s / max(energy, 1e-300) for s in spec])
            cap = options.max_rank
            caps.append(None if cap is None else [cap] * (len(ins) + 1))
        chosen = whitening.allocate(shapes, spectra, budget, caps)
        ranks = compress_embedding.balance(
            stats, dict(zip(names, chosen)), budget, options.max_rank
        )
        # Weights no cut could take; a layer's rank search may use them.
        slack = budget - sum(
            tt.num_params(*shape, ranks[name])
            for name, shape in zip(names, shapes)
        )
    cores, errors = {}, {}
    for name, cap in zip(names, caps):
        if stats[name].embedding:
            cores[name], errors[name] = compress_embedding.embedding_cores(
                stats[name], ranks[name], options
            )
            continue
        _, ins, outs, _ = stats[name].shapes
        white, inverses, metric, top, energy = prepared[name]
        found = tt.from_dense(
            white, ins, outs, max_rank=ranks[name], eps=options.eps
        )
        steps = refine_steps
        if steps is None:
            steps = min(REFINE_STEPS, max(2, int(REFINE_WORK / white.size)))
        own = None
        if slack is not None:
            own = tt.num_params(ins, outs, ranks[name]) + slack
        found, loss = _refine_dense(
            stats[name], found, white, metric, top, steps, own, cap
        )
        if slack is not None:
            slack = own - tt.num_params(*tt.cores_modes(found))
        cores[name] = whitening.apply_modes(found, inverses)
        errors[name] = math.sqrt(max(loss, 0.0) / energy) if energy else 0.0
    return cores, errors


def distill(student, teacher, data, steps, learning_rate=1e-3):
    """Fits `student` to `teacher`'s outputs (MSE) for `steps` batches.

    Args:
        student: the compressed model (compiled here with Adam and MSE).
        teacher: the original model (not trained).
        data: as `compress`'s `data` (cycled when shorter than `steps`).
        steps: number of optimiser steps.
        learning_rate: Adam's learning rate.

    Returns:
        The list of per-step losses.
    """
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    losses = []
    stream = itertools.chain.from_iterable(
        batches(data) for _ in itertools.count()
    )
    for x in itertools.islice(stream, steps):
        target = teacher(x, training=False)
        if isinstance(target, (list, tuple)):
            target = [keras.ops.convert_to_numpy(t) for t in target]
        else:
            target = keras.ops.convert_to_numpy(target)
        loss = student.train_on_batch(x, target)
        losses.append(float(np.ravel(loss)[0]))
    return losses


def _is_tt_dense(layer):
    # A TTDense (the TT layer replacing Dense), without importing the
    # layers: they import `conversions`, which imports this module.
    return hasattr(layer, "cores") and (
        getattr(layer, "keras_class", None) is keras.layers.Dense
    )
