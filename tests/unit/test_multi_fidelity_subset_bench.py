"""The multi-fidelity bench's ``svm_subset`` problem, at two trials' worth of resource: each method's
trials cost what a fresh fit per level costs (the sum of the levels trained), within R_total."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hpo_tasks.bench.experiments import multi_fidelity as mf


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setitem(mf.PROBLEMS, "svm_subset", replace(mf.PROBLEMS["svm_subset"], trials=6))
    return 6 * 27  # R_total


def _costs(row: dict) -> list[int]:
    used = [u for u, _ in row["trajectory"]]
    return [b - a for a, b in zip([0, *used], used, strict=False)]


def test_each_method_pays_the_sum_of_the_levels_it_trained(tiny: int) -> None:
    gp = mf.run("svm_subset", "gp", 0)
    assert _costs(gp) == [27] * 6, "unpruned: one fit on the whole training set per trial"
    hb = mf.run("svm_subset", "tpe_hb", 0)
    # pruned at 1, 3 or 9 (1, 1 + 3, 1 + 3 + 9), or every level trained (40); the last may overshoot
    assert set(_costs(hb)) <= {1, 4, 13, 40} and hb["n_pruned"] >= 1
    assert _costs(hb)[:-1] and sum(_costs(hb)[:-1]) < tiny
    topk = mf.run("svm_subset", "topk", 0)
    costs = _costs(topk)
    assert costs == [1] * 81 + [27] * 3, "81 screened at 1/27, the best 3 refitted on everything"
    assert topk["trajectory"][-1][1] is not None and 0 <= topk["trajectory"][-1][1] < 1
