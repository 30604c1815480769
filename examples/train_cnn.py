"""A standalone PyTorch training script: a small CNN on sklearn's digits (offline), validation per epoch.

It knows nothing of hpo-sweeps beyond the optional reporting helper: argparse for its settings, its own
``mlflow.start_run()`` and ``log_metric("val_accuracy", ..., step=epoch)``. Run alone::

    python examples/train_cnn.py --lr 0.003 --epochs 5 --hidden 64 --seed 0

Run by a sweep (config/sweeps/cnn_script.yaml), MLFLOW_TRACKING_URI and MLFLOW_RUN_ID point the same calls
at the trial's child run, and each epoch's ``HPO_REPORT`` line lets the sweep's pruner stop it early.
"""

from __future__ import annotations

import argparse
import json

import mlflow
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

try:  # optional: the sweep's reporting helper (prints one line per epoch)
    from hpo_tasks.report import report
except ImportError:  # outside the project: print the documented line ourselves

    def report(step: int, value: float) -> None:
        print("HPO_REPORT " + json.dumps({"step": step, "value": value}), flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def model(hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10),
    )  # fmt: skip


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CUDA_VISIBLE_DEVICES picks it
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    xt, yt = torch.as_tensor(xt, device=device), torch.as_tensor(yt, device=device)
    xv, yv = torch.as_tensor(xv, device=device), torch.as_tensor(yv, device=device)
    net = model(args.hidden, args.dropout).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator(device=device).manual_seed(args.seed)
    with mlflow.start_run():
        mlflow.log_params({"lr": args.lr, "hidden": args.hidden, "dropout": args.dropout, "device": device})
        for epoch in range(1, args.epochs + 1):
            net.train()
            order = torch.randperm(len(xt), device=device, generator=gen)
            total = 0.0
            for start in range(0, len(xt), args.batch_size):
                idx = order[start : start + args.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            net.eval()
            with torch.no_grad():
                accuracy = (net(xv).argmax(-1) == yv).float().mean().item()
            mlflow.log_metrics({"train_loss": total / len(xt), "val_accuracy": accuracy}, step=epoch)
            print(f"epoch {epoch}: train_loss {total / len(xt):.4f} val_accuracy {accuracy:.4f}", flush=True)
            report(epoch, accuracy)


if __name__ == "__main__":
    main()
