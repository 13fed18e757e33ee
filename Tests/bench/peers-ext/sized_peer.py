"""Runs a shared conv4 peer (../shared/bench/peers/{torch,jax}_cnn_maml.py) at another image shape
and width, without copying it: the shared scripts build everything inside main() from constants
(1x28x28 random images, 64 filters, a head on 64 features), with no options for them, so the
wrappers swap three module globals before calling main() and leave the timed code untouched:
  - `np`: numpy, except that RandomState.randn draws the --channels x --image-size images where
    the script asks for 1x28x28 ones (the data pool, drawn before timing);
  - the model builder (torch: Conv4; JAX: init_params): the script's own, at --filters, with the
    first convolution taking --channels and the head taking what the four 2x2 pools leave;
  - stdout, to add the shape to the script's one JSON line.
Anything else (the MAML step, threads, timing) is the shared script's.
Wrapper options: --image-size S (84), --channels C (3), --filters F (32), --peers DIR (the shared
bench/peers folder; default ../shared/bench/peers beside the repository); the rest goes to the
shared script."""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys

import numpy


def parse(argv):
    """The wrapper's own options; the rest goes to the shared script."""
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--image-size", type=int, default=84)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--peers", default=os.path.join(here, "..", "..", "..", "..", "shared", "bench", "peers"))
    ours, rest = ap.parse_known_args(argv)
    if ours.image_size < 16:
        sys.exit("--image-size must be at least 16 (four 2x2 max-pools)")
    return ours, rest


def load(peers, name):
    path = os.path.join(peers, name)
    if not os.path.isfile(path):
        sys.exit(f"no peer script {path} (pass --peers DIR: the shared bench/peers folder)")
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pooled_side(size):
    """The side left by four 2x2 max-pools (floor, as both frameworks pool)."""
    for _ in range(4):
        size //= 2
    return size


class _Numpy:
    """numpy, with random.RandomState drawing `shape` where the script asks for `original`."""

    def __init__(self, original, shape):
        class SizedRandomState(numpy.random.RandomState):
            def randn(self, *dims):
                if tuple(dims[-len(original):]) == original:
                    dims = tuple(dims[:-len(original)]) + shape
                return super().randn(*dims)
        self.random = type("random", (), {"RandomState": SizedRandomState})

    def __getattr__(self, name):
        return getattr(numpy, name)


def run(module, original, shape, opts, rest):
    """Calls the script's main() with `rest` as its arguments and `original` images drawn as
    `shape`; prints its JSON line with the shape added."""
    module.np = _Numpy(original, shape)
    wrapper = os.path.basename(sys.argv[0])
    sys.argv = [module.__file__] + rest
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        module.main()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    result.update({"image": [opts.channels, opts.image_size, opts.image_size], "filters": opts.filters,
                   "peer_script": os.path.abspath(module.__file__), "wrapper": wrapper})
    print(json.dumps(result))
