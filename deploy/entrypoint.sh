#!/bin/sh
# The image's entrypoint. Before the code server starts (Dagster's Helm chart runs
# `dagster api grpc ...`, `docker run` the CMD `dagster code-server start ...`), `quant prepare`
# creates or migrates the storage: Dagster's, MLflow's and the order journal's. No run can start
# before the code location is served, so none races the set-up. Run and step pods (other
# commands) start at once.
set -e
case "$1 $2" in
  "dagster api" | "dagster code-server")
    case "$3" in
      grpc | start) quant prepare ;;
    esac
    ;;
esac
exec "$@"
