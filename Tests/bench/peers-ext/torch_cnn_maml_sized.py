#!/usr/bin/env python3
"""torch_cnn_maml.py (the shared PyTorch conv4 MAML peer) at another image shape and width; options
in sized_peer.py. The MAML paper's MiniImageNet setup: torch_cnn_maml_sized.py --impl loop --order second --meta-batch 4 --inner-steps 5 --alpha 0.01 --iters 6 --warmup 2"""
import sys

from sized_peer import load, parse, pooled_side, run

opts, rest = parse(sys.argv[1:])
peer = load(opts.peers, "torch_cnn_maml.py")
Conv4 = peer.Conv4


def sized_conv4(n_way, bn=True, ch=64):
    # The script's Conv4 at --filters, then its first convolution and head replaced in place
    # (same names and order, so its make_functional finds them where it expects).
    model = Conv4(n_way, bn, opts.filters)
    model.features[0] = peer.nn.Conv2d(opts.channels, opts.filters, 3, padding=1)
    model.head = peer.nn.Linear(opts.filters * pooled_side(opts.image_size) ** 2, n_way)
    return model


peer.Conv4 = sized_conv4
run(peer, (1, 28, 28), (opts.channels, opts.image_size, opts.image_size), opts, rest)
