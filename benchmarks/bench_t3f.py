"""t3f's KerasDense on cases A-D, in its own TensorFlow process.

Usage: python benchmarks/bench_t3f.py [--cases ABCD]

t3f needs TF_USE_LEGACY_KERAS=1 and the tf_keras package (under Keras 3
its layer silently trains nothing). When t3f or tf_keras is missing the
script says so and exits 0: the peer is skipped.
"""

import argparse
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="ABCD")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import t3f
        import tensorflow as tf
        import tf_keras  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure skips
        print(f"t3f skipped: {type(e).__name__}: {e}")
        return 0
    common.set_backend_threads()
    for name in args.cases:
        ins, outs, rank, batch = common.CASES[name]
        layer = t3f.nn.KerasDense(
            input_dims=list(ins), output_dims=list(outs), tt_rank=rank
        )
        x = tf.random.normal((batch, int(tf.reduce_prod(ins))))
        layer(x)

        @tf.function
        def grad(layer=layer, x=x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x))
            return tape.gradient(loss, layer.trainable_variables)

        t = common.interleaved({"t3f": grad}, args.repeats)["t3f"]
        print(f"{name} t3f KerasDense fwd+bwd {1e3 * t:8.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
