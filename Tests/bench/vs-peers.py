#!/usr/bin/env python3
"""Side-by-side speed of maml-host and the JAX / PyTorch peers (../shared/bench/peers).

Runs every program of a workload in turn, ROUNDS times, alternating (never two
at once on a 2-core machine), each pinned to the same CPU set with taskset, and
reports the median meta-iterations/s of each and the ratios ours / peer. The
peers are measured here, never quoted. maml-host runs with --threads equal to
the number of CPUs given (the peers use every CPU they are given: JAX one
thread per visible core, the PyTorch scripts --threads N).

Usage (from the repository root, after `swift build -c release` and the peers'
setup-venv.sh):
    python3 Tests/bench/vs-peers.py [--workload sinusoid2,conv4-2,...|all] [--rounds 3] [--cpus 0]
        [--python ~/.cache/mamlzoo-peers-venv/bin/python] [--peers ../shared/bench/peers]
        [--image-tree DIR] [--write docs/benchmarks.md]
conv4-mini (the MAML paper's MiniImageNet conv4, 3x84x84) reads images from --image-tree DIR, e.g.
`.build/debug/image-tree synthetic --out DIR --classes 20 --per-class 40 --size 84`; it is not in
`all`. Its peers are the shared conv4 scripts run at that shape by the thin wrappers in
Tests/bench/peers-ext (peer scripts named "peers-ext/..." are found there and given --peers).
Prints a Markdown table per workload and one JSON line per workload. With
--write, each table also replaces the block between
`<!-- vs-peers:WORKLOAD:CPUS -->` and `<!-- /vs-peers -->` in that file (the block is
appended under "## Side by side with the peers" if it is not there yet).
"""
import argparse, datetime, json, os, re, statistics, subprocess, sys

CONV4 = ["--model", "cnn", "--task", "glyphs", "--ways", "5", "--shots", "1", "--query", "15",
         "--meta-batch", "32", "--inner-lr", "0.4"]
RNN = ["--model", "rnn", "--config", '{"cell":"elman","hidden":40}', "--task", "sine-sequences",
       "--shots", "10", "--query", "10", "--meta-batch", "25", "--inner-lr", "0.01"]

WORKLOADS = {
    # name: (description, our bench args, [(peer label, script, args)])
    "sinusoid2": ("sinusoid MLP 1-40-40-1, MAML second order, meta-batch 25, K=10+10",
                  ["--model", "mlp", "--task", "sinusoid", "--algorithm", "maml", "--iterations", "3000", "--warmup", "200"],
                  [("JAX jit+vmap/scan", "jax_sinusoid_maml.py",
                    ["--loop", "scan", "--order", "second", "--iters", "3000", "--warmup", "200", "--eval", "0"]),
                   ("PyTorch torch.func+vmap", "torch_sinusoid_maml.py",
                    ["--impl", "func", "--order", "second", "--iters", "1050", "--warmup", "50", "--eval", "0"])]),
    "sinusoid1": ("sinusoid MLP 1-40-40-1, first-order MAML, meta-batch 25, K=10+10",
                  ["--model", "mlp", "--task", "sinusoid", "--algorithm", "fomaml", "--iterations", "5000", "--warmup", "200"],
                  [("JAX jit+vmap/scan", "jax_sinusoid_maml.py",
                    ["--loop", "scan", "--order", "first", "--iters", "5000", "--warmup", "200", "--eval", "0"]),
                   ("PyTorch torch.func+vmap", "torch_sinusoid_maml.py",
                    ["--impl", "func", "--order", "first", "--iters", "1050", "--warmup", "50", "--eval", "0"])]),
    "conv4-2": ("conv4 5-way 1-shot, 15 query/class, MAML second order, meta-batch 32, alpha 0.4",
                CONV4 + ["--algorithm", "maml", "--iterations", "6", "--warmup", "1", "--sgemm"],
                [("JAX jit, tasks unrolled", "jax_cnn_maml.py",
                  ["--batching", "unroll", "--order", "second", "--iters", "6", "--warmup", "2"]),
                 ("PyTorch autograd loop", "torch_cnn_maml.py",
                  ["--impl", "loop", "--order", "second", "--iters", "6", "--warmup", "2"])]),
    "conv4-1": ("conv4 5-way 1-shot, 15 query/class, first-order MAML, meta-batch 32, alpha 0.4",
                CONV4 + ["--algorithm", "fomaml", "--iterations", "6", "--warmup", "1", "--sgemm"],
                [("JAX jit, tasks unrolled", "jax_cnn_maml.py",
                  ["--batching", "unroll", "--order", "first", "--iters", "6", "--warmup", "2"]),
                 ("PyTorch autograd loop", "torch_cnn_maml.py",
                  ["--impl", "loop", "--order", "first", "--iters", "6", "--warmup", "2"])]),
    "rnn-elman2": ("Elman RNN hidden 40, sine sequences length 20, MAML second order, meta-batch 25, alpha 0.01",
                   RNN + ["--algorithm", "maml", "--iterations", "1200", "--warmup", "200"],
                   [("JAX jit+vmap/scan", "jax_rnn_maml.py",
                     ["--loop", "scan", "--order", "second", "--unroll", "1", "--iters", "1200", "--warmup", "200"]),
                    ("PyTorch torch.func+vmap", "torch_rnn_maml.py",
                     ["--impl", "func", "--order", "second", "--iters", "110", "--warmup", "10"])]),
}

# The MAML paper's MiniImageNet setup: conv4 with 32 filters (max-pool, batch norm) on 3x84x84,
# 5-way 1-shot, 15 query per class, 5 inner steps at 0.01, meta-batch 4, second order.
MINI_PEER = ["--order", "second", "--meta-batch", "4", "--inner-steps", "5", "--alpha", "0.01",
             "--image-size", "84", "--channels", "3", "--filters", "32"]
WORKLOADS["conv4-mini"] = (
    "conv4 (32 filters) on 3x84x84 images, 5-way 1-shot, 15 query/class, MAML second order, 5 inner steps, "
    "alpha 0.01, meta-batch 4 (MAML paper, MiniImageNet)",
    ["--model", "cnn", "--config", '{"channels":[32]}', "--task", "image-folder", "--data", "{image_tree}",
     "--ways", "5", "--shots", "1", "--query", "15", "--meta-batch", "4", "--inner-steps", "5", "--inner-lr", "0.01",
     "--algorithm", "maml", "--iterations", "6", "--warmup", "1"],
    [("JAX jit, tasks unrolled", "peers-ext/jax_cnn_maml_sized.py", MINI_PEER + ["--batching", "unroll", "--iters", "5", "--warmup", "2"]),
     ("PyTorch autograd loop", "peers-ext/torch_cnn_maml_sized.py", MINI_PEER + ["--impl", "loop", "--iters", "6", "--warmup", "2"])])
ORDER = ["sinusoid2", "sinusoid1", "conv4-2", "conv4-1", "rnn-elman2"]   # `all`
NEEDS_TREE = ["conv4-mini"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, cpus):
    proc = subprocess.run(["taskset", "-c", cpus] + cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_name():
    """The CPU as /proc/cpuinfo names it, with family and model: ratios only hold per machine."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        return "unknown CPU"
    name = info.get("model name", "unknown CPU")
    if "cpu family" in info:
        name += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    return name


def measure(name, args):
    desc, ours_args, peers = WORKLOADS[name]
    ncpu = len(args.cpus.split(","))
    ours_args = [a.replace("{image_tree}", args.image_tree or "") for a in ours_args]
    programs = [("maml-zoo `maml-host bench`", [args.host, "bench", "--json", "--threads", str(ncpu)] + ours_args,
                 "meta_iterations_per_s")]
    for label, script, pargs in peers:
        extra = ["--threads", str(ncpu)] if os.path.basename(script).startswith("torch") else []
        if script.startswith("peers-ext/"):   # a wrapper here, around the shared script
            path, extra = os.path.join(HERE, script), extra + ["--peers", args.peers]
        else:
            path = os.path.join(args.peers, script)
        programs.append((label, [args.python, path] + pargs + extra, "meta_iters_per_s"))
    rates = {label: [] for label, _, _ in programs}
    extras = {}
    for r in range(args.rounds):
        for label, cmd, key in programs:
            out = run(cmd, args.cpus)
            rates[label].append(out[key])
            if label == programs[0][0]:
                for k in ("gflops", "sgemm_gflops", "peak_rss_mib"):
                    if out.get(k) is not None:
                        extras.setdefault(k, []).append(out[k])
            print(f"{name} round {r + 1} {label}: {out[key]:.3f} meta-it/s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ours = med[programs[0][0]]
    lines = [f"{desc}. CPUs {args.cpus} (taskset; maml-host --threads {ncpu}), {args.rounds} alternating rounds, "
             f"{datetime.date.today().isoformat()}, {cpu_name()}; `python3 Tests/bench/vs-peers.py --workload {name} "
             f"--cpus {args.cpus} --rounds {args.rounds}`", "",
             "| program | meta-it/s (median) | all rounds | maml-zoo / this (medians) | same round |",
             "|---|---:|---|---:|---|"]
    first = rates[programs[0][0]]
    for i, (label, _, _) in enumerate(programs):
        # Rounds run the programs back to back, so a same-round ratio is the least noisy one.
        per_round = "" if i == 0 else ", ".join(f"{a / b:.2f}" for a, b in zip(first, rates[label]))
        lines.append(f"| {label} | {med[label]:.4g} | {', '.join(f'{x:.4g}' for x in rates[label])} | "
                     f"{ours / med[label]:.2f}x | {per_round} |")
    if extras:
        m = {k: statistics.median(v) for k, v in extras.items()}
        parts = [f"{k.replace('_', ' ')} {m[k]:.4g}" for k in sorted(m)]
        lines += ["", "maml-host medians: " + ", ".join(parts)]
    table = "\n".join(lines)
    print(f"\n### {name}\n{table}\n")
    print(json.dumps({"workload": name, "cpus": args.cpus, "rounds": args.rounds, "median": med, "all": rates,
                      "ours": {k: statistics.median(v) for k, v in extras.items()}}))
    return table


def write_block(path, name, cpus, table):
    text = open(path).read()
    start, end = f"<!-- vs-peers:{name}:{cpus} -->", "<!-- /vs-peers -->"
    block = f"{start}\n{table}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        heading = "## Side by side with the peers"
        if heading not in text:
            text = text.rstrip("\n") + f"\n\n{heading}\nWritten by `Tests/bench/vs-peers.py --write`.\n"
        text = text.rstrip("\n") + f"\n\n#### {name}, CPUs {cpus}\n{block}\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="sinusoid2",
                    help="comma-separated names or 'all': " + ", ".join(ORDER) + "; not in all: " + ", ".join(NEEDS_TREE))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", default="0")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/mamlzoo-peers-venv/bin/python"))
    ap.add_argument("--peers", default="../shared/bench/peers")
    ap.add_argument("--host", default=".build/release/maml-host")
    ap.add_argument("--image-tree", metavar="DIR", help="class folders of images for conv4-mini (image-tree synthetic)")
    ap.add_argument("--write", metavar="MARKDOWN", help="replace this workload's block in MARKDOWN")
    args = ap.parse_args()
    names = ORDER if args.workload == "all" else args.workload.split(",")
    for name in names:
        if name not in WORKLOADS:
            sys.exit(f"unknown workload {name!r} (known: {', '.join(ORDER + NEEDS_TREE)})")
        if name in NEEDS_TREE and not (args.image_tree and os.path.isdir(args.image_tree)):
            sys.exit(f"{name} reads images: pass --image-tree DIR, a folder of class folders, e.g. made by "
                     "`.build/debug/image-tree synthetic --out DIR --classes 20 --per-class 40 --size 84`")
    for name in names:
        table = measure(name, args)
        if args.write:
            write_block(args.write, name, args.cpus, table)


if __name__ == "__main__":
    main()
