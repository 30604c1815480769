"""GPU figures for the closing note: CNN trial time and GP fit/suggest time at n=1000, CUDA vs CPU.

    python -m hpo_tasks.bench.experiments.gpu_check [--n 1000] [--images 60000] [--cpu-fit] [--out DIR]

What a GPU machine runs: the CNN objective on synthetic MNIST-shaped IDX files, then one suggest step on
``--n`` observations (after a warm-up on 50), on CUDA and on the CPU (CPU only where there is no CUDA),
and BoTorch's GP fit alone on CUDA (on the CPU too with ``--cpu-fit``: a CPU suggest takes the fast
path, not that fit; it takes ~40 s at n = 1000 on two cores). ``device_run.sh`` beside this file runs it
with the full suite on a lent GPU machine. Writes
``gpu_check.json`` under ``--out`` (default ``$OUT`` or the working directory). Imports only the engine and
the CNN objective (numpy, torch, botorch), so it runs on a bare GPU image with the repo on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def fake_mnist(folder: Path, n_train: int, n_val: int) -> None:
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_val)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 64, size=(n, 28, 28)).astype(np.uint8)
        images[np.arange(n), 2 * labels + 4, 4:24] = 255
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            head = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            (folder / f"{stem}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + arr.tobytes(), 1))


def timed(fn, *args, **kw):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn(*args, **kw)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--images", type=int, default=60000)
    ap.add_argument("--cpu-epochs", type=int, default=1)
    ap.add_argument(
        "--cpu-fit", action="store_true", help="also time BoTorch's fit on the CPU (slow at n >= 1000)"
    )
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args(argv)
    import torch

    from hpo_tasks.gp.engine import SpaceInfo, _fit_robust, suggest_next
    from hpo_tasks.objectives.cnn import cnn_classifier

    res: dict = {
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        res["gpu"] = torch.cuda.get_device_name(0)
    params = {"lr": 2e-3, "weight_decay": 1e-5, "dropout": 0.1, "hidden": 256, "optimizer": "adam"}
    with tempfile.TemporaryDirectory() as tmp:
        fake_mnist(Path(tmp), args.images, 10000)
        devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
        for dev in devices:
            epochs = 3 if dev == "cuda" else args.cpu_epochs
            kw: dict[str, Any] = dict(
                seed=0, dataset="mnist", data_path=tmp, epochs=epochs, batch_size=256, device=dev
            )
            cnn_classifier(params, **{**kw, "epochs": 1})  # warm-up: data load, kernels, allocator
            acc, secs = timed(cnn_classifier, params, **kw)
            res[f"cnn_{dev}"] = {
                "epochs": epochs,
                "seconds": round(secs, 3),
                "per_epoch": round(secs / epochs, 3),
                "val_acc": acc,
            }
            print(dev, res[f"cnn_{dev}"], flush=True)
    d = 6
    rng = np.random.default_rng(0)
    x = rng.random((args.n, d))
    y = -np.sum((x - 0.3) ** 2, axis=1) + 0.01 * rng.standard_normal(args.n)
    ident = SpaceInfo(
        bounds=np.array([[0.0] * d, [1.0] * d]),
        cat_dims={},
        discrete_dims={},
        names=[f"x{i}" for i in range(d)],
        round_trip=lambda v: np.clip(v, 0, 1),
        from_unit=lambda v: v,
        key=lambda v: tuple(np.round(v, 9)),
    )
    for dev in ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]:
        # warm-up on 50 rows: the device's first solver and kernel calls stay out of the timing
        suggest_next(x[:50], y[:50], space=ident, pending_x=None, taken=set(), seed=0, device=dev)
        s, sug_s = timed(suggest_next, x, y, space=ident, pending_x=None, taken=set(), seed=0, device=dev)
        fit: dict[str, float] = {}
        if dev == "cuda" or args.cpu_fit:  # a CPU suggest takes the fast path, not this BoTorch fit
            _, fit_s = timed(_fit_robust, x, y, ident, torch.device(dev), [])
            fit["fit_seconds"] = round(fit_s, 3)
        res[f"gp_n{args.n}_{dev}"] = {
            **fit,
            "suggest_seconds": round(sug_s, 3),
            "suggest_fit": round(s.fit_seconds, 3),
            "suggest_acq": round(s.acq_seconds, 3),
            "phase": s.phase,
        }
        print(dev, res[f"gp_n{args.n}_{dev}"], flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gpu_check.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
