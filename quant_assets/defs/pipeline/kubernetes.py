"""Fan-out jobs for Kubernetes, defined in the production profile only.

Their executor, ``k8s_job_executor``, starts one pod per step, sized by the asset's
``dagster-k8s/config`` tag (``quant_assets/pod_resources.py``): the model families train side by
side, each on its own CPUs or GPU. The local profile defines none of this, so local runs and
tests keep Dagster's default executor. Needs the ``k8s`` extra (dagster-k8s).
"""

from __future__ import annotations

import os

import dagster as dg

from quant_assets.defs.pipeline.schedules import MODEL_ZOO
from quant_assets.profile import PROFILE_ENV

MAX_CONCURRENT_STEP_PODS = 8


def fan_out_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """The jobs whose steps run as separate pods."""
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise ImportError(
            "the production profile's fan-out jobs need dagster-k8s: pip install '.[k8s]'"
        ) from exc

    executor = k8s_job_executor.configured(
        {"max_concurrent": MAX_CONCURRENT_STEP_PODS}, name="k8s_fan_out_executor"
    )
    return [
        dg.define_asset_job(
            "model_zoo_k8s_job",
            selection=MODEL_ZOO,
            executor_def=executor,
            description="Every further model family, each in its own pod (CPU or GPU).",
            tags={"quant/workload": "training"},
        )
    ]


@dg.definitions
def kubernetes_jobs() -> dg.Definitions:
    if os.environ.get(PROFILE_ENV, "local") != "production":
        return dg.Definitions()
    return dg.Definitions(jobs=fan_out_jobs())
