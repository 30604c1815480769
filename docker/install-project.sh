#!/usr/bin/env bash
# Install hpo-sweeps with its cluster extra: the Dockerfile's install step, also run by the tests as a
# dry run (tests/cluster/test_docker_files.py) so a broken pin shows up without a Docker engine.
#   install-project.sh PROJECT_DIR [pip options...]
# torch comes first from TORCH_INDEX_URL (CPU or CUDA wheels); empty means pip's configured index.
set -euo pipefail
project=$1
shift
torch_index=()
if [ -n "${TORCH_INDEX_URL:-}" ]; then torch_index=(--index-url "$TORCH_INDEX_URL"); fi
pip install "$@" "${torch_index[@]}" "torch==${TORCH_VERSION:-2.13.0}"
pip install "$@" "${project}[cluster]" "apache-airflow==${AIRFLOW_VERSION:-3.3.2}" "torch==${TORCH_VERSION:-2.13.0}"
