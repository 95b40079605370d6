"""The table of experiments: every experiment of the 2017 system, with
the settings of its 2017 script (the `"paper"` protocol,
PROTOCOLS-2017 in the reference notes) and ours where they differ (the
`"tuned"` protocol; for video the `"fast"` one).

The video experiments are in `catalog_video`, the feed-forward ones in
`catalog_features`, the sequence ones here. Adding an experiment is
adding an entry; `registry` looks them up.
"""

from ttrnn.experiments.catalog_features import FEATURES
from ttrnn.experiments.catalog_video import VIDEO
from ttrnn.experiments.experiment import FIBONACCI_MODELS
from ttrnn.experiments.experiment import Experiment
from ttrnn.experiments.experiment import paper_figures

SEQUENCES = (
    Experiment(
        name="fibonacci",
        kind="sequence",
        task="multiclass",
        metric="accuracy",
        description="FiboClass: is a sequence of 3-30 binary numbers (512 "
        "bits a step) Fibonacci, Lucas, Padovan or random?",
        tt_input_shape=(16, 32),
        tt_output_shape=(8, 8),
        tt_ranks=(1, 3, 1),
        models=FIBONACCI_MODELS,
        learning_rate=1e-3,
        batch_size=16,
        # The script's untimed warm-up epoch and its 100 timed ones: all
        # 101 train the model.
        epochs=101,
        tt_dropout=0.0,
        split="holdout",
        # The 2017 docstring (final test accuracy, most likely).
        # The script's docstring: accuracy, and seconds of its 100 timed
        # epochs / 100; the input-to-hidden weights its TT layers and the
        # dense kernels (512 x 64 per gate) hold.
        paper={
            "rnn": paper_figures(0.629, 32768, 51 / 100),
            "tt-rnn": paper_figures(0.765, 1152, 50 / 100),
            "gru": paper_figures(0.893, 98304, 108 / 100),
            "tt-gru": paper_figures(0.975, 1920, 82 / 100),
            "lstm": paper_figures(0.925, 131072, 161 / 100),
            "tt-lstm": paper_figures(0.935, 2304, 98 / 100),
        },
        notes="the 2017 proof of concept (ttrnn.experiments.sequences): "
        "300 sequences a class, zero pre-padded to 30 steps, 450 train / "
        "750 test (the test set validates); 101 epochs = the script's "
        "warm-up epoch + 100; the TT-RNNs without input dropout (as their "
        "2017 code)",
    ),
    Experiment(
        name="mnist-seq",
        kind="sequence",
        task="binary",
        metric="accuracy",
        description="MNIST-format image sequences (2-31 images, 784 raw "
        "pixels a step): does one show class 0? Then LRP: which step",
        tt_input_shape=(7, 7, 16),
        tt_output_shape=(4, 4, 4),
        tt_ranks=(1, 4, 4, 1),
        models=("tt-lstm", "lstm"),
        learning_rate=1e-3,
        batch_size=32,
        epochs=50,
        l2=1e-2,
        masking=True,
        dropout=0.0,
        recurrent_dropout=0.5,
        validation_split=0.2,
        explain=True,
        notes="the 2018 explanation script: 10,000 train / 1,000 test "
        "sequences (seeded by the run, not the script's numpy seeds), zero "
        "pre-padded to 32 steps; relevance a step scored by AUROC/AUPRC "
        "for 'this step is class 0'; Fashion-MNIST by default (class 0: "
        "T-shirt/top)",
    ),
)
ALL = VIDEO + FEATURES + SEQUENCES
