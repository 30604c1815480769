#!/usr/bin/env bash
# First start of the postgres container: one database and one owner per store (Airflow, Optuna, MLflow).
set -euo pipefail
for store in airflow optuna mlflow; do
  var="${store^^}_DB_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
    --set=name="$store" --set=password="${!var:?$var is not set}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
