from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from hpo_tasks.objectives import call_objective
from hpo_tasks.objectives.cnn import load_dataset, read_idx


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, suffix: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28))
    _write_idx(tmp_path / f"x{suffix}", images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"x{suffix}"), images)


def test_idx_rejects_garbage(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def _fake_mnist(folder: Path, n_train: int = 64, n_val: int = 32) -> None:
    rng = np.random.default_rng(1)
    for stem, n in (("train", n_train), ("t10k", n_val)):
        labels = rng.integers(0, 10, size=n)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, y in enumerate(labels):  # a learnable pattern: a bright bar whose row is the label
            images[i, 2 * y + 4, 4:24] = 255
        _write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)


def test_mnist_files_load_and_train(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    xt, yt, xv, _ = load_dataset("mnist", str(tmp_path))
    assert xt.shape == (64, 1, 28, 28) and xv.shape == (32, 1, 28, 28) and xt.max() == 1.0
    assert set(yt) <= set(range(10))
    params = {"lr": 3e-3, "hidden": 32, "dropout": 0.0, "optimizer": "adam"}
    acc = call_objective(
        "cnn_classifier", params, seed=0, args={"dataset": "mnist", "data_path": str(tmp_path), "epochs": 1}
    )
    assert 0.0 <= acc <= 1.0


def test_digits_one_epoch_is_finite_and_deterministic_on_cpu() -> None:
    params = {
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "dropout": 0.1,
        "hidden": 64,
        "optimizer": "sgd",
        "momentum": 0.9,
    }
    args = {"epochs": 1, "device": "cpu"}
    acc = call_objective("cnn_classifier", params, seed=3, args=args)
    assert math.isfinite(acc) and 0.0 <= acc <= 1.0
    assert acc == call_objective("cnn_classifier", params, seed=3, args=args)


def test_missing_files_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_dataset("fashion_mnist", str(tmp_path / "nowhere"))
