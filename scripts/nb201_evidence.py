#!/usr/bin/env python3
"""Scores NAS-Bench-201 search runs against the benchmark's optimum.

    scripts/nb201_evidence.py OUT.csv DATASET METHOD ROOT "SEEDS" COMMAND

reads ROOT/seed-S/evaluations.csv for each seed (the order rows were written
is the order of the queries) and, at 25, 50 and 100 queries, scores what a
run had found by then: the reported (200-epoch test) accuracy of the
architecture with the best signal (the 12-epoch validation accuracy the
search saw), its regret in that signal against the best signal in the whole
benchmark, whether it is at that optimum, and how many queries the run took
to reach it. One row per (dataset, method, queries) goes to OUT.csv,
replacing a row of the same dataset, method, queries and seeds; per seed
rows go to OUT_seeds.csv. Standard library only.
"""
import csv
import gzip
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "..", "src", "data", "nb201_table.csv.gz")
SIGNAL = {
    "cifar10": "CIFAR10ValidAccuracy12Epochs",
    "cifar100": "CIFAR100ValidAccuracy12Epochs",
    "imagenet16": "ImageNetValidAccuracy12Epochs",
}
CHECKPOINTS = (25, 50, 100)
FIELDS = ["dataset", "method", "queries", "seeds", "mean_test_acc", "std_test_acc", "mean_regret",
          "share_at_optimum", "median_queries_to_optimum", "mean_seconds", "command"]
SEED_FIELDS = ["dataset", "method", "seed", "queries", "test_acc", "signal_acc", "regret",
               "queries_to_optimum", "best_genotype"]


def optimum(dataset):
    with gzip.open(TABLE, "rt") as f:
        return max(float(r[SIGNAL[dataset]]) for r in csv.DictReader(f))


def score(path, best_signal, queries):
    """(test, signal, regret, genotype) at `queries`, and the queries to the optimum (None: never)."""
    rows = [r for r in csv.DictReader(open(path)) if r["accuracy"]]
    best, reached = None, None
    at = {}
    for i, r in enumerate(rows, start=1):
        sig = float(r["accuracy"])
        if best is None or sig > float(best["accuracy"]):
            best = r
        if reached is None and sig >= best_signal - 1e-9:
            reached = i
        if i in queries:
            at[i] = best
    for q in queries:
        at.setdefault(q, best)  # a run that ended early (an exhausted space) keeps its last best
    out = {}
    for q, b in at.items():
        sig = float(b["accuracy"])
        test = float(b["report_accuracy"] or b["accuracy"])
        out[q] = (test, sig, best_signal - sig, b["genotype"])
    return out, reached


def rewrite(path, fields, same, new_rows):
    rows = list(csv.DictReader(open(path))) if os.path.exists(path) else []
    rows = [r for r in rows if not same(r)] + new_rows
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def main():
    out, dataset, method, root, seeds, command = sys.argv[1:7]
    seeds = seeds.split()
    best_signal = optimum(dataset)
    per_seed, summary = [], []
    scored = {}
    for s in seeds:
        scored[s] = score(os.path.join(root, f"seed-{s}", "evaluations.csv"), best_signal, CHECKPOINTS)
    secs = []
    for s in seeds:
        p = os.path.join(root, f"seed-{s}.seconds")
        if os.path.exists(p):
            secs.append(float(open(p).read()))
    for q in CHECKPOINTS:
        tests = [scored[s][0][q][0] for s in seeds]
        regrets = [scored[s][0][q][2] for s in seeds]
        reach = [scored[s][1] for s in seeds]
        within = [r if r is not None and r <= q else math.inf for r in reach]
        at_opt = sum(1 for r in regrets if r <= 1e-9)
        med = statistics.median(within)
        summary.append({
            "dataset": dataset, "method": method, "queries": q, "seeds": " ".join(seeds),
            "mean_test_acc": f"{statistics.fmean(tests):.4f}",
            "std_test_acc": f"{statistics.pstdev(tests):.4f}",
            "mean_regret": f"{statistics.fmean(regrets):.4f}",
            "share_at_optimum": f"{at_opt}/{len(seeds)}",
            "median_queries_to_optimum": f">{q}" if math.isinf(med) else f"{med:g}",
            "mean_seconds": f"{statistics.fmean(secs):.1f}" if secs else "",
            "command": command,
        })
        for s in seeds:
            test, sig, regret, genotype = scored[s][0][q]
            per_seed.append({
                "dataset": dataset, "method": method, "seed": s, "queries": q, "test_acc": f"{test:.4f}",
                "signal_acc": f"{sig:.4f}", "regret": f"{regret:.4f}",
                "queries_to_optimum": scored[s][1] if scored[s][1] is not None else "", "best_genotype": genotype,
            })
    key = " ".join(seeds)
    rewrite(out, FIELDS, lambda r: (r["dataset"], r["method"], r["seeds"]) == (dataset, method, key), summary)
    seeds_out = out[:-4] + "_seeds.csv"
    rewrite(seeds_out, SEED_FIELDS, lambda r: (r["dataset"], r["method"]) == (dataset, method) and r["seed"] in seeds,
            per_seed)
    last = summary[-1]
    print(f"{dataset} {method}: at {last['queries']} queries test {last['mean_test_acc']} +- {last['std_test_acc']}, "
          f"regret {last['mean_regret']}, at optimum {last['share_at_optimum']}, "
          f"median queries to optimum {last['median_queries_to_optimum']}; "
          "queries to optimum per seed: " + " ".join(str(scored[s][1] or "-") for s in seeds))


if __name__ == "__main__":
    main()
