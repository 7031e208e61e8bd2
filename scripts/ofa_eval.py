#!/usr/bin/env python3
"""Evaluator command for experiments/mobilenet*.yaml: top-1 of a subnet of the
pretrained Once-for-All MobileNetV3 supernet on ImageNet validation images.

    python3 scripts/ofa_eval.py --json ARCH_JSON

ARCH_JSON (written by nas-search) holds the arch dict as `genotype`
({"ks", "e", "d", "r"}) and `settings.val_images` (how many validation images).
Needs PyTorch, torchvision and the `ofa` package (pip install ofa), the
supernet weights (downloaded by `ofa` on first use) and IMAGENET_VAL, a folder
of class sub-folders. Prints {"accuracy": ..., "seconds": ...} last.
"""
import argparse
import json
import os
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--batch-size", type=int, default=200)
    args = p.parse_args()
    job = json.load(open(args.json))
    arch = json.loads(job["genotype"])
    n_images = int((job.get("settings") or {}).get("val_images", 50000))
    root = os.environ["IMAGENET_VAL"]

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
    data = datasets.ImageFolder(root, tf)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data), generator=g)[: min(n_images, len(data))].tolist()
    calib = DataLoader(Subset(data, idx[:2000]), batch_size=args.batch_size, num_workers=8)
    set_running_statistics(net, calib)  # BN statistics for this subnet, as OFA does
    loader = DataLoader(Subset(data, idx), batch_size=args.batch_size, num_workers=8)
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            pred = net(x.to(device)).argmax(1).cpu()
            correct += (pred == y).sum().item()
            total += len(y)
    print(json.dumps({"accuracy": 100.0 * correct / total, "seconds": time.time() - started, "images": total}))


if __name__ == "__main__":
    main()
