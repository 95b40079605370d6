"""Training on several devices and processes with `keras.distribution`.

ttrnn brings no engine of its own: on the JAX backend, Keras' distribution
API runs the training step data-parallel (`keras.distribution.DataParallel`)
or with a layout of the weights (`ModelParallel` with a `LayoutMap`), over
the devices of one process or of several (`keras.distribution.initialize`).
This module sets it up for ttrnn's layers and experiments:

- `initialize`: the processes (a coordinator, gloo collectives on CPUs),
  then a `DataParallel` distribution over `devices` devices a process;
- `data_parallel`, `layout_map`, `model_parallel`: the distributions, TT
  cores replicated and the batch sharded;
- `topology`, `is_chief`, `batch_shards`: what a run records and asks.

On TensorFlow and torch, more than one device or process raises a
`DistributionError` (torch users train with torch's own
`DistributedDataParallel`: see docs/distributed.md).

Example:

    import ttrnn
    from ttrnn import distribution

    distribution.initialize(devices=2)   # JAX: 2 local devices
    model = ...                          # build and fit as usual
"""

import os

import keras

from ttrnn.tt.contraction.runtime import batch_shards

__all__ = [
    "DistributionError",
    "batch_shards",
    "data_parallel",
    "initialize",
    "is_chief",
    "layout_map",
    "model_parallel",
    "topology",
]

# Keras reads these when `initialize` is given no arguments.
ENV_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

# The weights of ttrnn's layers that hold TT cores (`core_0`, `core_x1`...).
TT_CORE_PATTERN = r".*core_[a-z]*\d+"


class DistributionError(ValueError):
    """A distributed set-up that cannot run (backend, devices, processes)."""


def initialize(
    devices=None, coordinator=None, num_processes=None, process_id=None
):
    """Sets up data-parallel training over devices and processes (JAX).

    With several processes (`num_processes` > 1, or Keras' environment
    variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
    `KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`)
    it first joins them (`keras.distribution.initialize`; on CPUs with
    gloo collectives). Then it installs a `keras.distribution.DataParallel`
    over the first `devices` local devices of every process, which later
    `fit`, `evaluate` and `predict` calls use: weights (TT cores included)
    replicated, every batch split over the devices. Each process then
    feeds only its own rows of every batch (`auto_shard_dataset=False`).

    Call it before building a model, once a process.

    Args:
        devices: devices a process; `None` for all local devices.
        coordinator: `HOST:PORT` of process 0, for several processes.
        num_processes: the number of processes; `None` for one (or the
            environment's).
        process_id: this process's number, from 0 to `num_processes - 1`.

    Returns:
        `topology()`: the devices and processes now in use.

    Raises:
        DistributionError: more than one device or process on a backend
            other than JAX, more devices than the process has, or
            inconsistent process arguments.

    Example:

        # Process i of 2 on two hosts, one GPU each:
        distribution.initialize(coordinator="10.0.0.1:1234",
                                num_processes=2, process_id=i)
    """
    devices = _check_count("devices", devices)
    num_processes = _check_count("num_processes", num_processes)
    processes = num_processes or _env_int(ENV_PROCESSES) or 1
    if processes == 1 and process_id not in (None, 0):
        raise DistributionError(
            "Argument `process_id` needs `num_processes` > 1 (or "
            f"{ENV_PROCESSES}). Received: process_id={process_id!r}, "
            f"num_processes={num_processes!r}"
        )
    backend = keras.backend.backend()
    if backend != "jax":
        if (devices or 1) > 1 or processes > 1:
            raise DistributionError(
                "Multi-device and multi-process training needs the JAX "
                f"backend (keras.distribution); this is {backend!r}. Set "
                "KERAS_BACKEND=jax, or on torch train with "
                "torch.nn.parallel.DistributedDataParallel (see "
                f"docs/distributed.md). Received: devices={devices}, "
                f"num_processes={processes}"
            )
        return topology()
    if processes > 1:
        _join(coordinator, num_processes, process_id)
    import jax

    local = jax.local_devices()
    devices = devices or len(local)
    if devices > len(local):
        raise DistributionError(
            f"Argument `devices` must be at most the {len(local)} local "
            f"{local[0].platform} device(s) of this process. Received: "
            f"devices={devices}. On a CPU, XLA_FLAGS="
            "--xla_force_host_platform_device_count=N (set before JAX "
            "starts) makes N virtual devices."
        )
    keras.distribution.set_distribution(data_parallel(devices))
    return topology()


def data_parallel(devices=None):
    """A `keras.distribution.DataParallel` over `devices` devices a process.

    Weights replicated, the batch sharded; each process feeds its own rows
    of every batch (`auto_shard_dataset=False`).

    Args:
        devices: devices a process (the first local ones); `None` for all.

    Returns:
        A `keras.distribution.DataParallel`.
    """
    import jax

    devices = _check_count("devices", devices)
    chosen = []
    for index in range(jax.process_count()):
        own = [d for d in jax.devices() if d.process_index == index]
        chosen += own[: devices or len(own)]
    return keras.distribution.DataParallel(
        devices=chosen, auto_shard_dataset=jax.process_count() == 1
    )


def layout_map(model, device_mesh):
    """A `keras.distribution.LayoutMap` for a model of ttrnn layers.

    TT cores are small (kilobytes to a few megabytes) and every row of a
    batch needs all of them: they are replicated (`(None,) * ndim`), and
    the batch is sharded by the distribution's batch axis. Other weights
    are not listed: Keras replicates them too, and a caller may add
    entries to shard big dense kernels over a model axis.

    Args:
        model: a built Keras model (its TT cores get entries).
        device_mesh: a `keras.distribution.DeviceMesh`.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    import re

    layouts = keras.distribution.LayoutMap(device_mesh)
    for weight in model.weights:
        if re.fullmatch(TT_CORE_PATTERN, weight.path.split("/")[-1]):
            # The path below the model's name: a model rebuilt under the
            # distribution (another name, e.g. "sequential_1") matches.
            inner = weight.path.partition("/")[2] or weight.path
            key = "(^|/)" + re.escape(inner) + "$"
            layouts[key] = (None,) * len(weight.shape)
    return layouts


def model_parallel(model, device_mesh, batch_dim_name=None):
    """A `keras.distribution.ModelParallel` with `layout_map(model)`.

    Args:
        model: a built Keras model.
        device_mesh: a `keras.distribution.DeviceMesh`.
        batch_dim_name: the mesh axis the batch is sharded on; `None` for
            the mesh's first axis.

    Returns:
        A `keras.distribution.ModelParallel`.
    """
    return keras.distribution.ModelParallel(
        layout_map=layout_map(model, device_mesh),
        batch_dim_name=batch_dim_name or device_mesh.axis_names[0],
    )


def topology():
    """The devices and processes of this run, for results.json.

    Returns:
        A dict: `backend`, `processes`, `process_id`, `devices` (all
        processes' devices the batch is sharded over), `local_devices`,
        `device_kind` (e.g. "cpu" or "NVIDIA H100 80GB HBM3"),
        `platform` and `distribution` (the Keras class, or `None`).
    """
    backend = keras.backend.backend()
    result = {
        "backend": backend,
        "processes": 1,
        "process_id": 0,
        "devices": 1,
        "local_devices": 1,
        "device_kind": "cpu",
        "platform": "cpu",
        "distribution": None,
    }
    if backend != "jax":
        return result
    import jax

    dist = keras.distribution.distribution()
    local = jax.local_devices()
    result.update(
        processes=jax.process_count(),
        process_id=jax.process_index(),
        device_kind=local[0].device_kind,
        platform=local[0].platform,
    )
    if dist is not None:
        mesh = dist.device_mesh
        shards = batch_shards()
        result.update(
            devices=int(mesh.devices.size),
            local_devices=shards // max(1, jax.process_count()) or 1,
            distribution=type(dist).__name__,
            batch_shards=shards,
        )
    return result


def is_chief():
    """Whether this is process 0 (the one that writes files)."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0


def _join(coordinator, num_processes, process_id):
    import jax

    if jax.distributed.is_initialized():  # joined already
        return
    process_id = _env_int(ENV_PROCESS_ID) if process_id is None else process_id
    coordinator = coordinator or os.environ.get(ENV_ADDRESSES)
    if not coordinator or process_id is None:
        raise DistributionError(
            "Several processes need the coordinator's HOST:PORT and this "
            "process's number: arguments `coordinator` and `process_id` "
            f"(or {ENV_ADDRESSES} and {ENV_PROCESS_ID}). Received: "
            f"coordinator={coordinator!r}, process_id={process_id!r}"
        )
    count = num_processes or _env_int(ENV_PROCESSES)
    if isinstance(process_id, bool) or not 0 <= int(process_id) < count:
        raise DistributionError(
            f"Argument `process_id` must be from 0 to {count - 1}. "
            f"Received: process_id={process_id!r}"
        )
    # XLA's CPU collectives across processes: gloo (GPUs use NCCL; the
    # backends cannot be asked before JAX joins the processes).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize(
            job_addresses=coordinator,
            num_processes=count,
            process_id=int(process_id),
        )
    except RuntimeError as error:
        if "must be called before" not in str(error):
            raise
        raise DistributionError(
            "Several processes must be joined before JAX starts its "
            "devices: call ttrnn.distribution.initialize before any JAX "
            "computation (or jax.devices())."
        ) from error


def _check_count(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DistributionError(
            f"Argument `{name}` must be an int >= 1 or None. Received: "
            f"{name}={value!r}"
        )
    return value


def _env_int(name):
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError as error:
        raise DistributionError(
            f"Environment variable {name} must be an integer. Received: "
            f"{text!r}"
        ) from error
