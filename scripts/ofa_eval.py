#!/usr/bin/env python3
"""Evaluator command for experiments/mobilenet_ofa.yaml: top-1 of a subnet of
the pretrained Once-for-All MobileNetV3 supernet on ImageNet validation images.

    python3 scripts/ofa_eval.py --json ARCH_JSON

ARCH_JSON (written by nas-search) holds the arch dict as `genotype`
({"ks", "e", "d", "r"}) and `settings.val_images` (how many validation images
to measure on, a fixed random subset; all 50,000 by default).

BatchNorm statistics: a subnet's running statistics are not the supernet's,
so, as Once-for-All does before measuring a subnet, they are reset and
recomputed on a random subset of *training* images (`--calib-images`, 2,000
by default, OFA's default too), never on the images then measured. The
training images come from IMAGENET_TRAIN (or --calib-dir), the measured ones
from IMAGENET_VAL (or --val-dir); both are folders of class sub-folders.

Needs PyTorch, torchvision and the `ofa` package (pip install ofa) and the
supernet weights (downloaded by `ofa` on first use). Prints
{"accuracy": ..., "seconds": ..., "images": ..., "calib_images": ...} last.
"""
import argparse
import json
import os
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--val-dir", default=os.environ.get("IMAGENET_VAL"),
                   help="ImageNet validation images (default: $IMAGENET_VAL)")
    p.add_argument("--calib-dir", default=os.environ.get("IMAGENET_TRAIN"),
                   help="ImageNet training images for BatchNorm recalibration (default: $IMAGENET_TRAIN)")
    p.add_argument("--calib-images", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--workers", type=int, default=8)
    args = p.parse_args()
    if not args.val_dir:
        raise SystemExit("ofa_eval.py: set IMAGENET_VAL (or --val-dir) to the ImageNet validation folder")
    if not args.calib_dir:
        raise SystemExit("ofa_eval.py: set IMAGENET_TRAIN (or --calib-dir) to the ImageNet training folder: "
                         "BatchNorm statistics are recomputed on training images, not on the ones measured")
    job = json.load(open(args.json))
    arch = json.loads(job["genotype"])
    n_images = int((job.get("settings") or {}).get("val_images", 50000))

    import torch
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    from ofa.model_zoo import ofa_net
    from ofa.utils import set_running_statistics

    started = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    r = arch["r"][0] if isinstance(arch["r"], list) else arch["r"]
    supernet = ofa_net("ofa_mbv3_d234_e346_k357_w1.0", pretrained=True)
    supernet.set_active_subnet(ks=arch["ks"], e=arch["e"], d=arch["d"])
    net = supernet.get_active_subnet(preserve_weight=True).to(device).eval()
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tf = transforms.Compose([transforms.Resize(int(r / 0.875)), transforms.CenterCrop(r), transforms.ToTensor(), norm])

    def subset(root, n, seed):
        data = datasets.ImageFolder(root, tf)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(data), generator=g)[: min(n, len(data))].tolist()
        return Subset(data, idx)

    calib = DataLoader(subset(args.calib_dir, args.calib_images, 1), batch_size=args.batch_size,
                       num_workers=args.workers)
    set_running_statistics(net, calib)  # BN statistics of this subnet, from training images
    measured = subset(args.val_dir, n_images, 0)
    loader = DataLoader(measured, batch_size=args.batch_size, num_workers=args.workers)
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            pred = net(x.to(device)).argmax(1).cpu()
            correct += (pred == y).sum().item()
            total += len(y)
    print(json.dumps({"accuracy": 100.0 * correct / total, "seconds": time.time() - started, "images": total,
                      "calib_images": len(calib.dataset)}))


if __name__ == "__main__":
    main()
