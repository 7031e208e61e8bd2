#!/usr/bin/env python3
"""Evaluator command for experiments/darts_command.yaml: trains one DARTS
genotype with the unmodified training script of the DARTS code
(https://github.com/quark0/darts, cnn/train.py) and prints the JSON line
nas-search reads.

    usage: darts_train_command.py ARCH_JSON WORKDIR

ARCH_JSON is the file nas-search writes per evaluation: {"genotype":
"Genotype(...)", "budget": "proxy"|"final", "settings": {...}}. Every entry of
`settings` becomes a flag of train.py: `epochs: 10` gives `--epochs 10`,
`cutout: true` gives `--cutout`, `false` leaves the flag out; so settings use
train.py's own names (epochs, init_channels, layers, batch_size,
learning_rate, cutout, cutout_length, drop_path_prob, auxiliary,
auxiliary_weight, grad_clip, seed, ...). An unknown name makes train.py stop
with its usage message, which nas-search records.

train.py takes the architecture as `--arch NAME`, a name in its own
genotypes.py. The genotype is handed over without editing the DARTS code:
train.py runs in a child Python whose `genotypes` module is the DARTS one
with one more name, NAS_SEARCH, set to this genotype, and train.py is given
`--arch NAS_SEARCH`. It runs in WORKDIR (its eval-* folder, log.txt and
weights go there) and its output goes to WORKDIR/train.log and train.err.
The accuracy reported is the last `valid_acc` line of its log: train.py
measures CIFAR-10's test set after every epoch, and the DARTS paper reports
the last epoch's.

Environment: DARTS_TRAIN (train.py's path) or DARTS_REPO (a checkout; its
cnn/train.py), DARTS_DATA (CIFAR-10 folder, train.py's --data; default its own
../data), DARTS_PYTHON (the Python with PyTorch; default this one).
"""
import json
import os
import re
import subprocess
import sys
import time

# What the child Python runs: load DARTS's genotypes.py, add NAS_SEARCH, run train.py as __main__.
CHILD = r"""
import importlib.util, os, runpy, sys
train_py, genotype = sys.argv[1], sys.argv[2]
code_dir = os.path.dirname(os.path.abspath(train_py))
sys.path.insert(0, code_dir)
spec = importlib.util.spec_from_file_location("genotypes", os.path.join(code_dir, "genotypes.py"))
genotypes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(genotypes)
genotypes.NAS_SEARCH = eval(genotype, vars(genotypes))
sys.modules["genotypes"] = genotypes
sys.argv = [train_py] + sys.argv[3:]
runpy.run_path(train_py, run_name="__main__")
"""


def flags(settings):
    out = []
    for key, value in (settings or {}).items():
        if isinstance(value, bool):
            if value:
                out.append(f"--{key}")
        elif value is not None:
            out += [f"--{key}", str(value)]
    return out


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).strip()
    except OSError:
        return ""


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: darts_train_command.py ARCH_JSON WORKDIR")
    arch_json, workdir = sys.argv[1], os.path.abspath(sys.argv[2])
    job = json.load(open(arch_json))
    train_py = os.environ.get("DARTS_TRAIN")
    if not train_py:
        repo = os.environ.get("DARTS_REPO")
        if not repo:
            sys.exit("set DARTS_TRAIN (path of the DARTS code's cnn/train.py) or DARTS_REPO (a checkout of it)")
        train_py = os.path.join(repo, "cnn", "train.py")
    train_py = os.path.abspath(train_py)
    if not os.path.isfile(train_py):
        sys.exit(f"no DARTS training script at {train_py}")
    args = ["--arch", "NAS_SEARCH"] + flags(job.get("settings"))
    if os.environ.get("DARTS_DATA"):
        args += ["--data", os.path.abspath(os.environ["DARTS_DATA"])]
    os.makedirs(workdir, exist_ok=True)
    log_path, err_path = os.path.join(workdir, "train.log"), os.path.join(workdir, "train.err")
    python = os.environ.get("DARTS_PYTHON", sys.executable)
    started = time.time()
    with open(log_path, "w") as log, open(err_path, "w") as err:
        code = subprocess.call([python, "-c", CHILD, train_py, job["genotype"]] + args,
                               cwd=workdir, stdout=log, stderr=err)
    if code != 0:
        print(tail(err_path) or tail(log_path), file=sys.stderr)
        sys.exit(f"train.py exited with {code} (log: {log_path})")
    accs = re.findall(r"\bvalid_acc ([0-9.eE+-]+)", open(log_path, errors="replace").read())
    if not accs:
        print(tail(log_path), file=sys.stderr)
        sys.exit(f"no valid_acc line in {log_path}")
    print(json.dumps({"accuracy": float(accs[-1]), "seconds": time.time() - started, "epochs_logged": len(accs)}))


if __name__ == "__main__":
    main()
