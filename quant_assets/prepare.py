"""``quant prepare``: the deployment's storage created or migrated once, before any run starts.

- Dagster: the instance's tables created (or migrated to this Dagster version) and the pools of
  the code location's steps given their default limit;
- MLflow: the tracking and model-registry schema created (or migrated) and the experiment made;
- the order journal (and the paper accounts beside it): its tables created.

Left to the runs, four runs starting at once on a new PostgreSQL database race to create the
same tables (``DuplicateTable``) and the same pool rows (``InFailedSqlTransaction``). The
deployment runs this first (the Helm chart's init container, ``quant ui``, ``quant demo``); it
is idempotent, so running it at every start is safe.
"""

from __future__ import annotations

from collections.abc import Callable

from quant_assets.profile import DeploymentProfile, redact
from quant_engine.paths import QuantHome

Say = Callable[[str], None]


def prepare_dagster(say: Say) -> None:
    """Create or migrate the instance storage of ``$DAGSTER_HOME`` and initialise the pools."""
    import dagster as dg

    from quant_assets.definitions import defs

    pools = sorted(
        {
            op.pool
            for job in defs().resolve_all_job_defs()
            for op in job.graph.iterate_op_defs()
            if op.pool
        }
    )
    with dg.DagsterInstance.get() as instance:
        instance.upgrade()
        storage = instance.event_log_storage
        known = {limit.name for limit in storage.get_pool_limits()}
        initialised = [p for p in pools if p not in known]
        if instance.global_op_concurrency_default_limit is not None:
            for pool in initialised:
                storage.initialize_concurrency_limit_to_default(pool)
        else:
            initialised = []
        say(
            f"dagster: {type(instance.run_storage).__name__} up to date"
            f" ({instance.root_directory}); pools initialised: {', '.join(initialised) or 'none'}"
        )


def prepare_mlflow(profile: DeploymentProfile, say: Say) -> None:
    """Create or migrate the MLflow tracking store's schema, then its experiment."""
    from mlflow.store.db import utils

    from quant_assets.resources.mlflow import MlflowResource

    resource = MlflowResource()
    uri = resource.uri()
    if uri.startswith(("sqlite:", "postgresql")):
        engine = utils.create_sqlalchemy_engine_with_retry(uri)
        try:
            if utils._all_tables_exist(engine):
                utils._upgrade_db(engine)  # what `mlflow db upgrade` does; a no-op at head
            else:
                utils._initialize_tables(engine)
        finally:
            engine.dispose()
    experiment = resource.experiment_id()
    say(f"mlflow: {redact(uri)} up to date; experiment {resource.experiment_name} ({experiment})")


def prepare_journal(profile: DeploymentProfile, say: Say) -> None:
    """Create the order journal's and the paper accounts' tables."""
    from quant_engine.brokers import paper
    from quant_engine.oms.journal import OrderJournal

    journal = OrderJournal(profile.journal_url)
    try:
        paper.metadata.create_all(journal.engine)
    finally:
        journal.engine.dispose()
    say(f"journal: {redact(profile.journal_url)} up to date")


def prepare_storage(say: Say = print) -> QuantHome:
    """Set up the profile's home and databases (``prepare_home``), then every store in it."""
    from quant_assets.cli import prepare_home

    home = prepare_home()
    profile = DeploymentProfile.from_env()
    prepare_dagster(say)
    prepare_mlflow(profile, say)
    prepare_journal(profile, say)
    return home


def run_prepare() -> int:
    """``quant prepare``: every store of the profile, one line each."""
    prepare_storage(lambda line: print(line, flush=True))
    print(f"{DeploymentProfile.from_env().name} profile prepared", flush=True)
    return 0
