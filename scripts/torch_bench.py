#!/usr/bin/env python3
"""The PyTorch side of `nas-search bench predictor|train --compare-torch`.

Times in PyTorch the same work that nas-search's benchmark times, on the
same shapes, so the two figures come from one run on one machine:

  predictor: the NAR-Former model as nas-search builds it (encoder of
             pre-norm self-attention blocks, fusion stages of learnt query
             tokens, a sigmoid head on the last token): inference on a batch
             of already tokenized architectures (archs/s), and one AdamW
             training step on a batch of rows (ms).
  train:     the DARTS evaluation network of a genotype (stem, normal and
             reduction cells, global pool, classifier): one SGD step
             (momentum 0.9, weight decay 3e-4, gradient-norm clip 5) on a
             batch of random images (images/s). With --mobilenet, the
             Once-for-All MobileNetV3 subnet nas-search describes in that
             JSON (its layer list: stem, inverted-residual blocks with
             squeeze-excite, final expand, head) instead.

Prints one JSON line of figures. Needs torch (`pip install torch`). The
nas-search binary carries a copy of this file and runs it with the Python
named by NAS_SEARCH_PYTHON (default python3).
"""
import argparse
import ast
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- predictor

class Attention(nn.Module):
    def __init__(self, d, heads, dropout, project_query):
        super().__init__()
        self.q = nn.Linear(d, d) if project_query else None
        self.k, self.v, self.out = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.heads, self.dropout = heads, dropout

    def forward(self, query, context):
        b, tq, d = query.shape
        tk, h = context.shape[1], self.heads
        q = self.q(query) if self.q is not None else query
        split = lambda t, n: t.view(b, n, h, d // h).transpose(1, 2)
        q, k, v = split(q, tq), split(self.k(context), tk), split(self.v(context), tk)
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(o.transpose(1, 2).reshape(b, tq, d))


class FfnResidual(nn.Module):
    def __init__(self, d, d_ff, dropout):
        super().__init__()
        self.norm, self.fc1, self.fc2 = nn.LayerNorm(d), nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.fc2(self.drop(F.relu(self.fc1(self.norm(x)))))


class EncoderBlock(nn.Module):
    def __init__(self, d, heads, d_ff, dropout):
        super().__init__()
        self.norm, self.attn = nn.LayerNorm(d), Attention(d, heads, dropout, True)
        self.ffn = FfnResidual(d, d_ff, dropout)

    def forward(self, x):
        h = self.norm(x)
        return self.ffn(x + self.attn(h, h))


class CrossBlock(nn.Module):
    def __init__(self, d, heads, d_ff, dropout, learnt_query):
        super().__init__()
        self.query_norm = None if learnt_query else nn.LayerNorm(d)
        self.context_norm = nn.LayerNorm(d)
        self.attn = Attention(d, heads, dropout, not learnt_query)
        self.ffn = FfnResidual(d, d_ff, dropout)

    def forward(self, query, context):
        if self.query_norm is not None:
            query = self.query_norm(query)
        return self.ffn(self.attn(query, self.context_norm(context)))


class NarFormer(nn.Module):
    def __init__(self, d, depths, heads, d_ff, dropout):
        super().__init__()
        block = lambda: EncoderBlock(d, heads, d_ff, dropout)
        self.depth_embed = nn.Linear(d, d)
        self.encoder = nn.ModuleList([block() for _ in range(depths[0])])
        after = len(depths) - 1
        self.queries = nn.ParameterList()
        self.fuse, self.cross, self.extra = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for s in range(1, len(depths)):
            self.queries.append(nn.Parameter(torch.randn(1 << (after - s), d)))
            self.fuse.append(CrossBlock(d, heads, d_ff, dropout, False) if s >= 2 else nn.Identity())
            self.cross.append(CrossBlock(d, heads, d_ff, dropout, True))
            self.extra.append(nn.ModuleList([block() for _ in range(depths[s] - 1)]))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 1)

    def forward(self, tokens, depth):
        x = torch.cat([F.relu(self.depth_embed(depth)).unsqueeze(1), tokens], 1)
        for blk in self.encoder:
            x = blk(x)
        memory, q = x, None
        for s in range(len(self.cross)):
            context = memory if q is None or s == 0 else self.fuse[s](q, memory)
            h = self.cross[s](self.queries[s].unsqueeze(0).expand(x.shape[0], -1, -1), context)
            for blk in self.extra[s]:
                h = blk(h)
            q = h
        out = self.norm(q if q is not None else memory)
        return torch.sigmoid(self.head(out[:, -1])).squeeze(1)


def bench_predictor(a, dev, sync):
    torch.manual_seed(0)
    model = NarFormer(a.d_model, [int(x) for x in a.depths.split(",")], a.heads, a.d_ff, a.dropout).to(dev)
    params = sum(p.numel() for p in model.parameters())
    tokens = torch.randn(a.infer_batch, a.tokens, a.d_model, device=dev)
    depth = torch.randn(a.infer_batch, a.d_model, device=dev)
    model.eval()
    infer = []
    with torch.no_grad():
        for i in range(a.repeats + 1):
            sync()
            t = time.perf_counter()
            model(tokens, depth).cpu()
            sync()
            if i > 0:
                infer.append(a.infer_batch / (time.perf_counter() - t))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tt, dd = tokens[: a.train_batch].clone(), depth[: a.train_batch].clone()
    label = torch.full((tt.shape[0],), 0.5, device=dev)
    steps = []
    for i in range(a.repeats + 1):
        sync()
        t = time.perf_counter()
        loss = ((model(tt, dd) - label) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        sync()
        if i > 0:
            steps.append(1000 * (time.perf_counter() - t))
    return {"archs_per_s": statistics.median(infer), "train_step_ms": statistics.median(steps), "params": params}


# ---------------------------------------------------------------- DARTS network

class ReluConvBn(nn.Sequential):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout))


def sep_conv(c, k, stride):
    p = k // 2
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c, c, k, stride, p, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(), nn.Conv2d(c, c, k, 1, p, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c))


def dil_conv(c, k, stride):
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c, c, k, stride, k // 2 * 2, dilation=2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.b = nn.Conv2d(cin, cout - cout // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.a(x), self.b(x[:, :, 1:, 1:])], 1))


def operation(name, c, stride):
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    kind, k = name.rsplit("_", 1)[0], int(name[-3])
    return sep_conv(c, k, stride) if kind == "sep_conv" else dil_conv(c, k, stride)


class Cell(nn.Module):
    def __init__(self, ops, concat, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReluConvBn(c_pp, c, 1, 1, 0)
        self.pre1 = ReluConvBn(c_p, c, 1, 1, 0)
        self.ops = nn.ModuleList([operation(n, c, 2 if reduction and i < 2 else 1) for n, i in ops])
        self.inputs, self.concat = [i for _, i in ops], concat

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        for n in range(len(self.ops) // 2):
            a, b = 2 * n, 2 * n + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in self.concat], 1)


class DartsNetwork(nn.Module):
    def __init__(self, genotype, c, cells, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
        c_pp, c_p, cur, reduction_prev = 3 * c, 3 * c, c, False
        self.cells = nn.ModuleList()
        for i in range(cells):
            reduction = i in (cells // 3, 2 * cells // 3)
            if reduction:
                cur *= 2
            ops, concat = (genotype["reduce"], genotype["reduce_concat"]) if reduction else (
                genotype["normal"], genotype["normal_concat"])
            self.cells.append(Cell(ops, concat, c_pp, c_p, cur, reduction, reduction_prev))
            c_pp, c_p, reduction_prev = c_p, len(concat) * cur, reduction
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


# ------------------------------------------------------ MobileNetV3 network

class Linear1x1(nn.Linear):
    """A linear layer on a globally pooled [batch, c, 1, 1] map, as nas-search's."""

    def forward(self, x):
        return super().forward(x.flatten(1))[:, :, None, None]


def layer(spec):
    """One of nas-search's `Layer`s, serialized as `"Relu"` or `{"Conv": {...}}`."""
    if isinstance(spec, str):
        return {"Relu": nn.ReLU, "HSwish": nn.Hardswish, "HSigmoid": nn.Hardsigmoid,
                "GlobalAvgPool": lambda: nn.AdaptiveAvgPool2d(1)}[spec]()
    (name, a), = spec.items()
    if name == "Conv":
        return nn.Conv2d(a["cin"], a["cout"], a["k"], a["stride"], a["pad"], dilation=a["dilation"],
                         groups=a["groups"], bias=a["bias"])
    if name == "BatchNorm":
        return nn.BatchNorm2d(a["c"])
    if name == "Linear":
        return Linear1x1(a["inp"], a["out"], bias=a["bias"])
    if name == "MaxPool":
        return nn.MaxPool2d(a["k"], a["stride"], a["pad"])
    if name == "AvgPool":
        return nn.AvgPool2d(a["k"], a["stride"], a["pad"], count_include_pad=False)
    raise ValueError(f"unknown layer {spec}")


def seq(layers):
    return nn.Sequential(*[layer(x) for x in layers]) if layers is not None else None


class MbBlock(nn.Module):
    def __init__(self, b):
        super().__init__()
        self.expand, self.depthwise, self.se, self.project = (
            seq(b["expand"]), seq(b["depthwise"]), seq(b["se"]), seq(b["project"]))
        self.residual = b["residual"]

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = y * self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class MobileNet(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.stem = seq(net["stem"])
        self.blocks = nn.Sequential(*[MbBlock(b) for b in net["blocks"]])
        self.final_expand, self.head = seq(net["final_expand"]), seq(net["head"])

    def forward(self, x):
        return self.head(self.final_expand(self.blocks(self.stem(x)))).flatten(1)


def parse_genotype(text):
    """`Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[...], ...)` as a dict."""
    call = ast.parse(text.strip(), mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def bench_train(a, dev, sync):
    torch.manual_seed(0)
    if a.mobilenet:
        net = MobileNet(json.loads(a.mobilenet)).to(dev)
    else:
        net = DartsNetwork(parse_genotype(a.genotype), a.channels, a.cells).to(dev)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(a.batch, 3, a.resolution, a.resolution, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    net.train()
    steps = []
    for i in range(a.steps + 1):
        sync()
        t = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        loss.item()
        sync()
        if i > 0:
            steps.append(time.perf_counter() - t)
    step = statistics.median(steps)
    return {"images_per_s": a.batch / step, "step_ms": 1000 * step, "params": params}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    sub = ap.add_subparsers(dest="work", required=True)
    p = sub.add_parser("predictor")
    p.add_argument("--tokens", type=int, required=True, help="node tokens per architecture (no depth token)")
    p.add_argument("--d-model", type=int, default=192)
    p.add_argument("--depths", default="6,1,1,1")
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--d-ff", type=int, default=768)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--infer-batch", type=int, default=1024)
    p.add_argument("--train-batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    t = sub.add_parser("train")
    net = t.add_mutually_exclusive_group(required=True)
    net.add_argument("--genotype", help="a DARTS genotype")
    net.add_argument("--mobilenet", help="a MobileNetV3 subnet as nas-search's layer list (JSON)")
    t.add_argument("--channels", type=int, default=16)
    t.add_argument("--cells", type=int, default=8)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--resolution", type=int, default=32)
    t.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = bench_predictor(a, dev, sync) if a.work == "predictor" else bench_train(a, dev, sync)
    out.update(torch=torch.__version__, threads=torch.get_num_threads(), device=a.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
