#!/usr/bin/env bash
# Refuse to start without the secrets, or with a well-known one. Run by entrypoint.sh in every container;
# compose's ${VAR:?} checks catch the same gaps earlier, this catches them for other orchestrators.
#   check-secrets.sh VAR [VAR...]   (exit 78, EX_CONFIG, naming each bad variable)
set -uo pipefail
weak='^(|airflow|admin|password|changeme|secret|postgres|mlflow|optuna|redis|test)$'
bad=()
for var in "$@"; do
  value=${!var-}
  if [ -z "$value" ]; then
    bad+=("$var is not set")
  elif [[ ${value,,} =~ $weak ]] || [ ${#value} -lt 16 ]; then
    bad+=("$var is a well-known or short value (use 16+ random characters)")
  fi
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'hpo-sweeps: refusing to start:\n' >&2
  printf '  - %s\n' "${bad[@]}" >&2
  printf 'Set them in docker/.env (copy docker/.env.example; it says how to generate each).\n' >&2
  exit 78
fi
