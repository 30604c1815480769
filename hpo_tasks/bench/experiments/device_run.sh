#!/usr/bin/env bash
# What a lent GPU machine (16 cores, no package index) runs in one call of the device tool:
#   1. the GPU check (CNN trial and GP suggest, CUDA vs CPU, at n = 1000 and 2000);
#   2. the full suite's studies (12 problems x 6 optimizers) on every core, seed-major, cut at SUITE_S
#      seconds: whole seeds are reported, `python -m hpo_tasks.bench --from-results DIR` renders them.
# The packages the machine lacks travel as wheels in .whl/ (see docs/benchmarks.md for the download).
# Usage there: bash hpo_tasks/bench/experiments/device_run.sh   (writes under $OUT)
set -u
OUT=${OUT:-$PWD/device_out}
SUITE_S=${SUITE_S:-330}
SEEDS=${SEEDS:-10}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ "${WHEELS:-1}" = 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
{
  date -u
  nproc
  grep -m1 "model name" /proc/cpuinfo
  nvidia-smi -L
  python3 - <<'EOF'
import importlib.metadata as md, platform
print("python", platform.python_version())
for p in ["torch", "botorch", "gpytorch", "linear_operator", "numpy", "scipy", "scikit-learn", "optuna",
          "optuna-integration", "xgboost-cpu", "pydantic", "typing_extensions"]:
    try:
        print(p, md.version(p))
    except md.PackageNotFoundError:
        print(p, "missing")
EOF
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
# fail fast (before the long parts) if anything the studies need is missing
timeout 120 python3 -c "
from hpo_tasks.bench import runner
for o in ('ours-q1', 'ours-q4', 'optuna-gp', 'botorch', 'tpe', 'random'):
    runner.run_study('xgb-breast-auc', o, 0, 4)
print('imports ok')" || exit 4
mkdir -p "$OUT/n2000"
timeout 150 python3 -m hpo_tasks.bench.experiments.gpu_check --n 1000 --out "$OUT" 2>&1 | tail -8
timeout 60 python3 -m hpo_tasks.bench.experiments.gpu_check --n 2000 --images 2000 --out "$OUT/n2000" 2>&1 |
  tail -4
rm -rf /tmp/suite
timeout "$SUITE_S" python3 -m hpo_tasks.bench --skip latency,pipeline --workers "$(nproc)" --seeds "$SEEDS" \
  --out /tmp/suite --no-progress > /tmp/suite.log 2>&1
echo "suite rc=$? studies=$(wc -l < /tmp/suite/runs.jsonl)"
cp /tmp/suite/runs.jsonl /tmp/suite/meta.json "$OUT/"
tail -c 3000 /tmp/suite.log > "$OUT/suite_log_tail.txt"
