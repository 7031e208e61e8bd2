#!/usr/bin/env python3
"""Example evaluator for nas-search's `command` evaluator, and its contract.

nas-search runs the command once per architecture (per attempt), e.g.
    evaluator:
      kind: command
      command: python3 ../scripts/example_evaluator.py --json {json} --genotype "{genotype}"
      timeout_s: 86400     # seconds one attempt may run [86400]
      retries: 1           # further attempts after a failed one [1]
      backoff_s: 1         # seconds before the first retry, doubled for each further one [1]
      workers: 1           # evaluations at once [1]
      cwd: .               # the folder the command runs in [the config file's folder]
      budgets:             # free-form settings per budget, handed over in {json}
        proxy: { epochs: 10 }
        final: { epochs: 600 }

The command runs with `sh -c` in `cwd`. Placeholders, substituted before:
  {json}      path of a JSON file: {"genotype": ..., "key": ..., "budget":
              "proxy"|"final", "settings": <the budget's settings above>,
              "seed": <the training seed, as {seed}>}
  {genotype}  the genotype in the space's text form
  {workdir}   a folder of this architecture and budget, the same for every
              attempt (to keep a checkpoint in)
  {budget}    proxy or final
  {key}       the architecture's canonical key (a further training of
              search.final_repeats: the key with `#repeat-N` added)
  {seed}      a training seed from the key and budget: seed your training
              with it, so the trainings of search.final_repeats differ
Each value arrives as one argument however the placeholder is quoted:
bare ({genotype}), in double quotes ("{genotype}") or in single quotes
('{genotype}'); nas-search escapes it for where it stands.

The command prints, as the LAST line of its stdout, one JSON object:
  {"accuracy": 93.1, "seconds": 3600}
accuracy: top-1 in PERCENT (0..100), the signal the search sees; seconds
(optional): what the evaluation cost (default: its wall time);
report_accuracy (optional, percent): a number reported apart from the
signal (e.g. the test accuracy beside a validation signal); any other
fields are kept in evaluations.csv's `extra`. A non-zero exit, a timeout, a
last line that is not such an object, or an accuracy that is NaN or outside
0..100 is a failed evaluation (retried `retries` times), recorded with the
stderr tail and the command line that ran.

This one looks the accuracy up in NAS-Bench-201 when --nb201-csv is given,
else derives a deterministic pseudo-accuracy from the genotype text; a real
evaluator trains the network here (PyTorch, a cluster job, ...).

For tests it can also misbehave on a deterministic share of architectures:
--fail-fraction F --fail-mode crash|hang|garbage|nan. --log FILE appends
each evaluated key to FILE (to count evaluations). --needs-env VAR fails
every evaluation with KeyError unless VAR is set (a mistake users make).
--genotype G fails unless G is the file's genotype (how a placeholder
arrived). --seed-noise X adds a deterministic offset in [-X, X] from the
training seed (so repeated trainings of one architecture differ, as real
ones do).
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
    p.add_argument("--genotype", help="the genotype as the command line passed it; it must equal the file's")
    p.add_argument("--seed-noise", type=float, default=0.0)
    p.add_argument("--hang-first-attempt", action="store_true",
                   help="the first attempt in --workdir hangs (to hit a time limit); later ones succeed")
    args = p.parse_args()
    import os
    if args.needs_env:
        os.environ[args.needs_env]

    with open(args.json) as f:
        arch = json.load(f)
    if args.genotype is not None and args.genotype != arch["genotype"]:
        print(f"--genotype {args.genotype!r} is not the file's {arch['genotype']!r}", file=sys.stderr)
        sys.exit(4)
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
    if args.seed_noise:
        acc = min(100.0, max(0.0, acc + args.seed_noise * ((arch["seed"] % 2001) / 1000.0 - 1.0)))
    print(json.dumps({"accuracy": acc, "seconds": time.time() - started, "budget": arch["budget"]}))


if __name__ == "__main__":
    main()
