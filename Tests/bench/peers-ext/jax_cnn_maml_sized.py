#!/usr/bin/env python3
"""jax_cnn_maml.py (the shared JAX conv4 MAML peer) at another image shape and width; options
in sized_peer.py. The MAML paper's MiniImageNet setup: jax_cnn_maml_sized.py --batching unroll --order second --meta-batch 4 --inner-steps 5 --alpha 0.01 --iters 5 --warmup 2"""
import math
import sys

from sized_peer import load, parse, pooled_side, run

opts, rest = parse(sys.argv[1:])
peer = load(opts.peers, "jax_cnn_maml.py")
init_params = peer.init_params


def sized_init(key, n_way, bn=True, ch=64, in_ch=1):
    # The script's initialisation at --filters and --channels; the head then re-drawn (its scheme:
    # uniform +-1/sqrt(fan-in)) for the flattened features the pools leave, not one pixel.
    params = init_params(key, n_way, bn, opts.filters, opts.channels)
    fan_in = opts.filters * pooled_side(opts.image_size) ** 2
    bound = 1.0 / math.sqrt(fan_in)
    kw, kb = peer.jax.random.split(peer.jax.random.fold_in(key, 1))
    jnp = peer.jnp
    params["head"] = {"w": peer.jax.random.uniform(kw, (fan_in, n_way), jnp.float32, -bound, bound),
                      "b": peer.jax.random.uniform(kb, (n_way,), jnp.float32, -bound, bound)}
    return params


peer.init_params = sized_init
run(peer, (28, 28, 1), (opts.image_size, opts.image_size, opts.channels), opts, rest)
