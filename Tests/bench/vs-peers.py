#!/usr/bin/env python3
"""Side-by-side speed of maml-host and the JAX / PyTorch peers (../shared/bench/peers).

Runs every program in turn, ROUNDS times, alternating (never two at once on a
2-core machine), each pinned to the same CPU set with taskset, and reports the
median meta-iterations/s of each and the ratios ours / peer. The peers are
measured here, never quoted.

Usage (from the repository root, after `swift build -c release` and the peers'
setup-venv.sh):
    python3 Tests/bench/vs-peers.py [--workload sinusoid2|sinusoid1] [--rounds 3] [--cpus 0]
        [--python ~/.cache/mamlzoo-peers-venv/bin/python] [--peers ../shared/bench/peers]
Prints a Markdown table (paste into docs/benchmarks.md) and one JSON line.
"""
import argparse, json, os, statistics, subprocess, sys

WORKLOADS = {
    # name: (our bench args, [(peer label, script, args)])
    "sinusoid2": (["--model", "mlp", "--task", "sinusoid", "--algorithm", "maml",
                   "--iterations", "3000", "--warmup", "200"],
                  [("jax jit+vmap/scan", "jax_sinusoid_maml.py",
                    ["--loop", "scan", "--order", "second", "--iters", "3000", "--warmup", "200", "--eval", "0"]),
                   ("pytorch torch.func", "torch_sinusoid_maml.py",
                    ["--impl", "func", "--order", "second", "--iters", "1050", "--warmup", "50", "--eval", "0"])]),
    "sinusoid1": (["--model", "mlp", "--task", "sinusoid", "--algorithm", "fomaml",
                   "--iterations", "5000", "--warmup", "200"],
                  [("jax jit+vmap/scan", "jax_sinusoid_maml.py",
                    ["--loop", "scan", "--order", "first", "--iters", "5000", "--warmup", "200", "--eval", "0"]),
                   ("pytorch torch.func", "torch_sinusoid_maml.py",
                    ["--impl", "func", "--order", "first", "--iters", "1050", "--warmup", "50", "--eval", "0"])]),
}


def run(cmd, cpus):
    out = subprocess.run(["taskset", "-c", cpus] + cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="sinusoid2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", default="0")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/mamlzoo-peers-venv/bin/python"))
    ap.add_argument("--peers", default="../shared/bench/peers")
    ap.add_argument("--host", default=".build/release/maml-host")
    args = ap.parse_args()
    ours_args, peers = WORKLOADS[args.workload]
    threads = str(len(args.cpus.split(",")))
    programs = [("maml-zoo (maml-host bench)", [args.host, "bench", "--json"] + ours_args, "meta_iterations_per_s")]
    for label, script, pargs in peers:
        extra = ["--threads", threads] if script.startswith("torch") else []
        programs.append((label, [args.python, os.path.join(args.peers, script)] + pargs + extra, "meta_iters_per_s"))
    rates = {label: [] for label, _, _ in programs}
    for r in range(args.rounds):
        for label, cmd, key in programs:
            rate = run(cmd, args.cpus)[key]
            rates[label].append(rate)
            print(f"round {r + 1} {label}: {rate:.1f} meta-it/s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ours = med[programs[0][0]]
    print(f"\n{args.workload}, CPUs {args.cpus} (taskset), {args.rounds} alternating rounds, median meta-iterations/s:\n")
    print("| program | meta-it/s (median) | all rounds | ours / this |")
    print("|---|---:|---|---:|")
    for label, _, _ in programs:
        print(f"| {label} | {med[label]:.1f} | {', '.join(f'{x:.0f}' for x in rates[label])} | {ours / med[label]:.2f}x |")
    print(json.dumps({"workload": args.workload, "cpus": args.cpus, "rounds": args.rounds, "median": med, "all": rates}))


if __name__ == "__main__":
    main()
