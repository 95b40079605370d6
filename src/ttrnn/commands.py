"""The commands of the `ttrnn` command line: what each one does.

`cli` parses the arguments and calls one of these with them. Each imports
Keras only when it needs it (`load_keras`, which chooses the backend
first), so `--help`, `--version` and `list` stay light.
"""

import os
import shlex

from ttrnn import _select_backend
from ttrnn import cli_data
from ttrnn import cli_distributed


def demo(args):
    """`ttrnn demo`: TT-GRU vs GRU on generated UCF11-shaped video."""
    load_keras()
    from ttrnn.experiments import demo as demo_module

    demo_module.run_demo(
        out=args.out,
        quick=args.quick,
        epochs=args.epochs,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
        keep_checkpoints=args.keep_checkpoints,
    )
    return 0


def experiment(args):
    """`ttrnn experiment NAME`: train, evaluate, write results.json."""
    from ttrnn.experiments import registry

    names = registry.expand(args.name)
    cli_data.apply_offline(args)
    auto = cli_distributed.host_devices(
        args, [registry.get(name) for name in names], _select_backend.select()
    )
    load_keras()
    _distribute(args, auto)
    from ttrnn.experiments import run

    models = args.model
    if models is None and len(names) == 1:
        models = [None]  # the experiment's default model (RunConfig)
    settings = keywords(args, _RUN_SETTINGS, num_frames="frames")
    if args.max_batch_frames is not None:  # 0: no limit
        settings["max_batch_frames"] = args.max_batch_frames or None
    settings.update(_rank_budget_arg(args))
    run.run_many(
        names,
        models,
        out=args.out or os.path.join("runs", _label(args)),
        plot=not args.no_plots,
        **settings,
    )
    return 0


# The options of `ttrnn experiment` named as the run settings they set
# (`RunConfig`); `--frames` sets `num_frames`.
_RUN_SETTINGS = (
    "data_dir dataset epochs protocol resume overwrite batch_size "
    "learning_rate tt_ranks tt_input_shape frame_shape folds dropout "
    "recurrent_dropout cache_dir seed verbose buckets input_precision"
)


def keywords(args, names, **renamed):
    """The keyword arguments a command passes on: the values in `args`
    of the options `names` (their destinations, separated by spaces),
    and of `renamed` (keyword=destination)."""
    chosen = {name: getattr(args, name) for name in names.split()}
    chosen.update({key: getattr(args, dest) for key, dest in renamed.items()})
    return chosen


def info(args):
    """`ttrnn info`: weights, compression and MACs of each layer."""
    import json

    from ttrnn.experiments import registry
    from ttrnn.experiments.registry import ExperimentError
    from ttrnn.experiments.run_config import RunConfig

    target = args.target
    run = RunConfig(target)  # an experiment's name: nothing recorded
    chosen = None
    if os.path.isfile(target):
        with open(target, encoding="utf-8") as file:
            saved = json.load(file)
        saved = saved.get("config", saved)
        if "experiment" not in saved:
            raise ExperimentError(
                f"{target!r} is not the results.json or configuration of "
                "one run (a summary of several runs lists them under "
                "'runs': pass one run's results.json)."
            )
        run = RunConfig.from_dict(saved)
        chosen = [run.model]
    name, protocol = run.experiment, args.protocol
    # The run's protocol, unless the name is an alias (which brings its
    # own) or the protocol is not the experiment's: earlier runs recorded
    # 'paper' for experiments that are not video.
    if protocol is None and name not in registry.ALIASES:
        own = registry.get(name).protocols
        protocol = run.protocol if run.protocol in own else None
    experiment, protocol = registry.resolve(name, protocol)
    chosen = args.model or chosen or list(experiment.models)
    ranks = args.tt_ranks or run.tt_ranks
    modes = args.tt_input_shape or run.tt_input_shape
    for model_name in chosen:
        experiment.check_model(model_name, ranks, modes)
    load_keras()  # the models are built to be counted
    from ttrnn.experiments import info as info_module
    from ttrnn.experiments import models as models_module
    from ttrnn.experiments import settings

    frame = args.frame_shape or run.frame_shape
    built = {}
    for model_name in chosen:
        if experiment.kind == "feedforward":
            outputs = _info_outputs(experiment)
            model, _ = models_module.build_feedforward(
                experiment, model_name, outputs, ranks
            )
        else:
            if experiment.kind == "video":
                height, width = frame or experiment.frame_shape
                input_dim = height * width * 3
            else:
                input_dim = experiment.input_dim
            model, _ = models_module.build_recurrent(
                experiment,
                model_name,
                input_dim,
                _info_outputs(experiment),
                tt_input_shape=modes,
                tt_ranks=ranks,
            )
        built[model_name] = model
    resolved = settings.resolved(experiment, protocol, built)
    if getattr(args, "json", False):
        resolved["models"] = {
            name: {
                "weights": int(model.count_params()),
                "layers": info_module.layer_rows(model, resolved["batch_size"]),
            }
            for name, model in built.items()
        }
        print(json.dumps(resolved, indent=2))
        return 0
    print(f"{experiment.name}: {experiment.description}")
    print(f"protocol {protocol}{_tuned_text(experiment, protocol)}")
    print(settings.format_settings(resolved))
    for model_name, model in built.items():
        print(f"\n{model_name}: {model.count_params():,} weights in all")
        print(info_module.model_table(model, resolved["batch_size"]))
    return 0


def explain(args):
    """`ttrnn explain RUN_DIR`: LRP relevance of one input."""
    load_keras()
    from ttrnn.experiments import explain_run

    summary = explain_run.explain_run(
        args.run_dir,
        input_path=args.input,
        plot=not args.no_plots,
        **keywords(
            args, "index target out eps bias_factor data_dir top_frames"
        ),
    )
    label = "" if summary["label"] is None else f" (label {summary['label']})"
    print(
        f"{summary['input']}{label}: output unit {summary['target']}, "
        f"score {summary['score']:.4g}, relevance in the input "
        f"{summary['relevance_sum']:.4g}"
    )
    if "most_relevant_steps" in summary:
        print(f"most relevant steps: {summary['most_relevant_steps']}")
    print("wrote " + ", ".join(summary["files"]))
    return 0


def interrupted(args, argv):
    """What `ttrnn CMD` says when Ctrl-C stops it: for an experiment
    with a checkpoint, the command that resumes it."""
    if args.command == "demo":
        return (
            "interrupted. Run `ttrnn demo` again to start the training "
            "over (the generated clips and decoded frames are kept)."
        )
    if args.command != "experiment":
        return "interrupted."
    out = args.out or os.path.join("runs", _label(args))
    found = []
    for root, _, files in os.walk(out):
        if "state.json" in files and "checkpoint.keras" in files:
            found.append(root)
    if not found:
        return (
            f"interrupted before the first checkpoint in {out}: nothing "
            "to resume."
        )
    kept = [a for a in argv if not _abbreviates(a, "--overwrite", 4)]
    if not any(_abbreviates(a, "--resume", 5) for a in kept):
        kept.append("--resume")
    return (
        f"interrupted; the checkpoint in {found[0]} keeps the finished "
        f"epochs. Resume with: ttrnn {shlex.join(kept)}"
    )


def _abbreviates(arg, option, shortest):
    """Whether `arg` is `option` or a prefix argparse accepts for it."""
    return len(arg) >= shortest and option.startswith(arg)


def _label(args):
    """The default output folder's name: `madelon --protocol tuned`
    writes where `madelon-tuned` always did; a group, under its name."""
    from ttrnn.experiments import registry

    try:
        return registry.run_label(args.name, args.protocol)
    except ValueError:  # a group: its runs are below runs/NAME
        return args.name


def list_experiments(args):
    """`ttrnn list`: the experiments and their defaults."""
    from ttrnn.experiments import registry

    for name in registry.names():
        e = registry.get(name)
        modes = "x".join(map(str, e.tt_input_shape))
        outs = "x".join(map(str, e.tt_output_shape))
        print(
            f"{name:<20}{e.kind:<12}{modes:>14} -> {outs:<10} "
            f"ranks {list(e.tt_ranks)}; models {', '.join(e.models)}; "
            f"protocols {', '.join(e.protocols)}"
        )
    groups = ", ".join(
        f"{g} ({', '.join(m)})" for g, m in registry.GROUPS.items()
    )
    print(f"groups: {groups}")
    print("tuned settings (--protocol tuned):")
    for name in registry.tuned_names():
        e = registry.get(name)
        print(f"  {name:<18}{_settings(e)}: {e.tuned_notes}")
    aliases = ", ".join(
        f"{a} = {base} --protocol {p}"
        for a, (base, p) in registry.ALIASES.items()
    )
    print(f"aliases: {aliases}")
    return 0


def _settings(experiment):
    """The tuned settings, e.g. 'tt_l2 0.0005 (else 0.005)'."""
    return ", ".join(
        f"{key} {_value(value)} (else {_value(getattr(experiment, key))})"
        for key, value in experiment.tuned.items()
    )


def _value(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _tuned_text(experiment, protocol):
    """What `ttrnn info` says of the tuned settings of a protocol."""
    from ttrnn.experiments import registry

    # The video experiments run their tuned settings as "fast".
    tuned = "fast" if experiment.kind == "video" else registry.TUNED
    if protocol == tuned and experiment.tuned:
        base = registry.get(experiment.name)
        return f": tuned settings {_settings(base)}"
    if experiment.tuned:
        return f"; --protocol {tuned} sets {_settings(experiment)}"
    return ""


def _info_outputs(experiment):
    counts = {
        "ucf11": 11,
        "hollywood2": 12,
        "youtube-celebrities": 47,
        "hmdb51": 51,
        "mnist": 10,
        "cifar10": 10,
        "lymphoma": 3,
        "fibonacci": 4,
        "reuters": 46,
        "mice": 83,
        "yeast": 18,
    }
    return counts.get(experiment.name, 1)


def _distribute(args, auto=None):
    """`--devices`, `--coordinator`, `--num-processes`, `--process-id`
    (or Keras' environment variables): sets up `ttrnn.distribution`
    before any device is used. `auto`: the CPU devices
    `cli_distributed.host_devices` asked for by default, used when JAX
    computes on the CPU."""
    asked = (args.devices, args.coordinator, args.num_processes)
    asked += (args.process_id,)
    env = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    if all(value is None for value in asked) and not env:
        if auto:
            _split_over_cores(auto)
        return
    from ttrnn import distribution

    distribution.initialize(
        devices=args.devices,
        coordinator=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )


def _split_over_cores(devices):
    """A `DataParallel` over the `devices` virtual CPU devices, where JAX
    computes on the CPU (not on a GPU host)."""
    import jax

    if jax.default_backend() != "cpu" or jax.local_device_count() < devices:
        return
    from ttrnn import distribution

    distribution.initialize(devices=devices)


def load_keras():
    """Chooses the backend, then imports Keras and ttrnn's layers."""
    import ttrnn

    _select_backend.select()
    ttrnn._import_all()
    import keras

    from ttrnn import compile_cache

    compile_cache.enable()
    if keras.backend.backend() == "torch":
        import torch

        # XLA and TensorFlow flush denormals to zero on the CPU; torch
        # does not, and tiny gradients of saturated gates then make its
        # steps several times slower (benchmarks/RESULTS.md).
        torch.set_flush_denormal(True)


def _rank_budget_arg(args):
    """`--rank-budget P` / `--compression X` as run_experiment's
    `rank_budget` (nothing when neither is given)."""
    if getattr(args, "rank_budget", None) is not None:
        return {"rank_budget": {"target_params": args.rank_budget}}
    if getattr(args, "compression", None) is not None:
        return {"rank_budget": {"target_compression": args.compression}}
    return {}
