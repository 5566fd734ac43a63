#!/usr/bin/env python3
"""The reference the README's CNN figures are set against: `--model cnn` and its recipe in PyTorch
(Debian's python3-torch), on the same IDX files. Prints each epoch's test accuracy and the
training samples/s, then one `done:` line like dptrain's.

    python3 bench/pytorch_cnn.py [--data DIR] [--epochs 10] [--seed 1] [--norm pixel|scale]
                                 [--warmup-epochs 0] [--init he|torch] [--threads 2]
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def fail(message):
    """Bad input: one line naming the culprit, exit status 2 (the project's rule)."""
    print(f"pytorch_cnn: {message}", file=sys.stderr)
    sys.exit(2)


def read_idx(path, rank_wanted):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        fail(f"{path}: {e}")
    if len(data) < 4:
        fail(f"{path}: too short for an IDX header")
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08 or rank != rank_wanted or len(data) < 4 + 4 * rank:
        fail(f"{path}: not an unsigned-byte IDX file of rank {rank_wanted}")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    if len(data) - 4 - 4 * rank != math.prod(dims):
        fail(f"{path}: the payload does not hold the {'x'.join(map(str, dims))} its header says")
    payload = torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8)
    return payload.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    fail(f"{data_dir}: no {stem}[.gz]")


def load(data_dir, norm):
    x = {s: read_idx(find(data_dir, f"{s}-images-idx3-ubyte"), 3).float() for s in ("train", "t10k")}
    y = {s: read_idx(find(data_dir, f"{s}-labels-idx1-ubyte"), 1).long() for s in ("train", "t10k")}
    for s in x:
        if len(x[s]) != len(y[s]):
            fail(f"{data_dir}: {len(x[s])} {s} images but {len(y[s])} labels")
    if norm == "pixel":  # dptrain's: every pixel by the training set's mean and population std
        mean = x["train"].double().mean(0)
        std = x["train"].double().std(0, unbiased=False)
        std[std == 0] = 1
        for s in x:
            x[s] = ((x[s].double() - mean) / std).float()
    else:  # torchvision's ToTensor: [0, 1]
        for s in x:
            x[s] = x[s] / 255
    return (x["train"].unsqueeze(1), y["train"]), (x["t10k"].unsqueeze(1), y["t10k"])


class Cnn(nn.Module):
    """conv:32:3,relu,maxpool:2,conv:64:3,relu,maxpool:2,fc:128,relu,fc"""

    def __init__(self, h, w, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (h // 4) * (w // 4), 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def he_init(model):
    """dptrain's: N(0, 2 / fan-in) weights, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def lr_at(step, steps_per_epoch, args):
    """dptrain's schedule (host/train/schedule.c): linear warm-up, then cosine, per step."""
    warm = args.warmup_epochs * steps_per_epoch
    if step < warm:
        return args.lr * (step + 1) / warm
    total = args.epochs * steps_per_epoch
    return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=float, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--norm", choices=("pixel", "scale"), default="scale")
    p.add_argument("--init", choices=("he", "torch"), default="torch")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    for name in ("epochs", "batch", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if not 0 <= args.warmup_epochs < args.epochs:
        p.error("--warmup-epochs must be at least 0 and fewer than --epochs")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (xtr, ytr), (xte, yte) = load(args.data, args.norm)
    model = Cnn(xtr.shape[2], xtr.shape[3], int(ytr.max()) + 1)
    if args.init == "he":
        he_init(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    step, train_s, acc = 0, 0.0, 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for lo in range(0, len(xtr), args.batch):
            idx = order[lo:lo + args.batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps_per_epoch, args)
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            step += 1
        epoch_s = time.perf_counter() - t0
        train_s += epoch_s
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum())
                          for i in range(0, len(xte), 1000))
        acc = correct / len(xte)
        print(f"epoch {epoch:2d}/{args.epochs}  test_acc {acc:.4f}  "
              f"{len(xtr) / epoch_s:.0f} samples/s", flush=True)
    print(f"done: test_acc {acc:.4f}  {len(xtr) * args.epochs / train_s:.0f} samples/s  "
          f"(PyTorch {torch.__version__}, {args.threads} threads, norm {args.norm}, "
          f"init {args.init}, warm-up {args.warmup_epochs:g}, seed {args.seed})")


if __name__ == "__main__":
    main()
