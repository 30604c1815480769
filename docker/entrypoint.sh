#!/usr/bin/env bash
# Checks this container's secrets, writes the admin password where SimpleAuthManager reads it (api-server
# only), then hands over to the official Airflow entrypoint.
set -euo pipefail
here=$(dirname "$0")
# shellcheck disable=SC2086
"$here/check-secrets.sh" ${HPO_REQUIRED_SECRETS:-}
if [ -n "${HPO_ADMIN_PASSWORD:-}" ]; then
  umask 077
  python -c 'import json, os, sys; json.dump({"admin": os.environ["HPO_ADMIN_PASSWORD"]}, sys.stdout)' \
    > "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
  unset HPO_ADMIN_PASSWORD
fi
exec /entrypoint "$@"
