#!/usr/bin/env python3
"""Example evaluator for nas-search's `command` evaluator.

nas-search runs it once per architecture, e.g.
    evaluator:
      kind: command
      command: python3 ../scripts/example_evaluator.py --json {json} --nb201-csv nb201.csv
(write the table with `nas-search data nb201 --out experiments/nb201.csv`).

It reads the architecture file ({json}: genotype, key, budget, settings) and
prints one JSON line {"accuracy": ..., "seconds": ...} as its last stdout line.
A real evaluator would train the network here (PyTorch, a cluster job, ...);
this one looks the accuracy up in NAS-Bench-201 when --nb201-csv is given,
else derives a deterministic pseudo-accuracy from the genotype text.

For tests it can also misbehave on a deterministic share of architectures:
--fail-fraction F --fail-mode crash|hang|garbage|nan. --log FILE appends
each evaluated key to FILE (to count evaluations). --needs-env VAR fails
every evaluation with KeyError unless VAR is set (a mistake users make).
"""
import argparse
import csv
import hashlib
import json
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--nb201-csv")
    p.add_argument("--log")
    p.add_argument("--fail-fraction", type=float, default=0.0)
    p.add_argument("--fail-mode", default="crash", choices=["crash", "hang", "garbage", "nan"])
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--needs-env", help="fail (KeyError) unless this environment variable is set")
    p.add_argument("--workdir", help="a folder kept across attempts of one architecture")
    p.add_argument("--hang-first-attempt", action="store_true",
                   help="the first attempt in --workdir hangs (to hit a time limit); later ones succeed")
    args = p.parse_args()
    import os
    if args.needs_env:
        os.environ[args.needs_env]

    with open(args.json) as f:
        arch = json.load(f)
    if args.log:
        with open(args.log, "a") as f:
            f.write(arch["key"] + "\n")
    started = time.time()
    if args.hang_first_attempt:
        marker = os.path.join(args.workdir, "attempted")
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(3600)
    h = int(hashlib.sha256(arch["genotype"].encode()).hexdigest(), 16)
    if (h % 1000) / 1000.0 < args.fail_fraction:
        mode = args.fail_mode
        if mode == "crash":
            print("CUDA out of memory (simulated)", file=sys.stderr)
            sys.exit(3)
        if mode == "hang":
            time.sleep(3600)
        if mode == "garbage":
            print("epoch 1 loss 2.3\nnot json at all")
            return
        if mode == "nan":
            print('{"accuracy": NaN, "seconds": 1.0}')
            return
    time.sleep(args.sleep)
    if args.nb201_csv:
        acc = None
        with open(args.nb201_csv) as f:
            for row in csv.DictReader(f):
                if row["ArchitectureString"] == arch["genotype"]:
                    acc = float(row["CIFAR10TestAccuracy200Epochs"])
                    break
        if acc is None:
            print(f"unknown architecture {arch['genotype']}", file=sys.stderr)
            sys.exit(2)
    else:
        acc = 50.0 + (h % 4000) / 100.0
    print(json.dumps({"accuracy": acc, "seconds": time.time() - started, "budget": arch["budget"]}))


if __name__ == "__main__":
    main()
