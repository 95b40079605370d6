"""A text classifier whose 100,000 x 256 embedding is a TT table, 100x smaller.

Generated data (no download): documents of 20-64 tokens over a vocabulary
of 100,000 ids with Zipf-distributed background words; each of the
classes has 50 topic words scattered over the whole vocabulary, and about
15 % of a document's tokens are topic words of its class. Id 0 pads.

Three models, the same head (masked mean of the token vectors, then a
softmax layer), trained with Adam for the same epochs:

1. `keras.layers.Embedding(100_000, 256)`: 25.6 M table weights;
2. `ttrnn.TTEmbedding(100_000, 256, tt_ranks="auto", tt_compression=100)`:
   at most 1 % of those weights, trained from scratch;
3. model 1's trained table compressed 100x by `ttrnn.compress` (TT-SVD),
   then fine-tuned for one epoch.

Run:  python examples/text_classifier.py
      python examples/text_classifier.py --samples 512 --epochs 1  # quick
"""

# ttrnn before keras: with KERAS_BACKEND unset it selects an installed
# backend (JAX, TensorFlow, torch) before Keras falls back to TensorFlow.
import ttrnn  # noqa: I001
import argparse
import time

import keras
import numpy as np

VOCAB, DIM, TOPIC_WORDS, TOPIC_SHARE = 100_000, 256, 50, 0.15


def generate(samples, classes, seed):
    """(ids of shape (samples, 64), labels): see the module docstring."""
    rng = np.random.default_rng(seed)
    topics = rng.choice(np.arange(1, VOCAB), (classes, TOPIC_WORDS), False)
    labels = rng.integers(0, classes, samples)
    ids = np.zeros((samples, 64), "int32")
    for row, label in enumerate(labels):
        length = rng.integers(20, 65)
        words = np.minimum(rng.zipf(1.1, length), VOCAB - 1)
        topical = rng.random(length) < TOPIC_SHARE
        words[topical] = rng.choice(topics[label], topical.sum())
        ids[row, :length] = words
    return ids, labels


def classifier(embedding, classes):
    return keras.Sequential(
        [
            keras.Input((64,), dtype="int32"),
            embedding,
            keras.layers.GlobalAveragePooling1D(),  # masked mean
            keras.layers.Dense(classes, activation="softmax", name="head"),
        ]
    )


def fit(model, data, epochs, batch_size, lr):
    (x, y), (xt, yt) = data
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = (time.perf_counter() - start) / max(epochs, 1)
    return model.evaluate(xt, yt, verbose=0)[1], seconds


def table_weights(model):
    return model.layers[0].count_params()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    x, y = generate(args.samples, args.classes, args.seed)
    cut = int(0.8 * len(x))
    data = (x[:cut], y[:cut]), (x[cut:], y[cut:])
    print(
        f"{cut} training and {len(x) - cut} test documents, {args.classes} "
        f"classes, vocabulary {VOCAB:,}, backend {keras.backend.backend()}"
    )
    rows = []
    dense = classifier(
        keras.layers.Embedding(VOCAB, DIM, mask_zero=True, name="emb"),
        args.classes,
    )
    acc, sec = fit(dense, data, args.epochs, args.batch_size, args.lr)
    rows.append(("dense Embedding", table_weights(dense), acc, sec))
    tt_emb = ttrnn.TTEmbedding(
        VOCAB,
        DIM,
        tt_ranks="auto",
        tt_compression=100,
        mask_zero=True,
        name="emb",
    )
    tt_model = classifier(tt_emb, args.classes)
    acc, sec = fit(tt_model, data, args.epochs, args.batch_size, args.lr)
    rows.append(("TTEmbedding from scratch", table_weights(tt_model), acc, sec))
    small, report = ttrnn.compress(dense, compression=100, layers=["emb"])
    small.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    acc = small.evaluate(*data[1], verbose=0)[1]
    rows.append(("dense, compressed 100x", table_weights(small), acc, None))
    acc, sec = fit(small, data, 1, args.batch_size, args.lr / 10)
    rows.append(("  + fine-tuned 1 epoch", table_weights(small), acc, sec))
    print(report)
    print(
        f"\n{'model':26s} {'table weights':>14s} {'compression':>12s} "
        f"{'test acc.':>10s} {'s/epoch':>8s}"
    )
    for name, weights, acc, sec in rows:
        ratio = VOCAB * DIM / weights
        sec_text = "" if sec is None else f"{sec:8.1f}"
        print(
            f"{name:26s} {weights:14,d} {ratio:11.1f}x {acc:10.3f} {sec_text}"
        )
    print(
        f"\nTT table: modes {tt_emb.tt_input_shape} -> "
        f"{tt_emb.tt_output_shape}, ranks {tt_emb.tt_ranks}"
    )
    ttrnn.summary(tt_model)


if __name__ == "__main__":
    main()
