"""What one step's Kubernetes pod asks for, as the ``dagster-k8s/config`` op tag.

The tag is read only by the ``k8s_job_executor`` (the production profile's fan-out jobs, see
``quant_assets/defs/pipeline/kubernetes.py``); every other executor ignores it, so local runs
are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

K8S_CONFIG_TAG = "dagster-k8s/config"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class PodResources:
    """CPU and memory requested (memory also the limit) and GPUs, per step pod."""

    cpu: str  # Kubernetes quantity: "2", "500m"
    memory: str  # "4Gi"
    gpus: int = 0

    def __post_init__(self) -> None:
        if self.gpus < 0:
            raise ValueError(f"PodResources.gpus must be >= 0, not {self.gpus}")

    def op_tags(self) -> dict[str, dict[str, Any]]:
        """``op_tags`` for an asset: its pod's resources, and a GPU node's taint tolerated."""
        requests = {"cpu": self.cpu, "memory": self.memory}
        limits = {"memory": self.memory}
        config: dict[str, Any] = {}
        if self.gpus:
            limits[GPU_RESOURCE] = str(self.gpus)  # GPUs are set as limits; requests follow
            config["pod_spec_config"] = {
                "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
            }
        config["container_config"] = {"resources": {"requests": requests, "limits": limits}}
        return {K8S_CONFIG_TAG: config}


# Sizes of the training steps: tree and linear models on CPUs, neural families on one GPU.
# 3,000 symbols x 10 years with basic + alpha158 features peaks at 12.5 GiB in alpha_model
# (bench/large_universe.py, 2026-12-01): the limit leaves a quarter on top of that.
LIGHTGBM_POD = PodResources(cpu="2", memory="16Gi")
RIDGE_POD = PodResources(cpu="1", memory="2Gi")
NEURAL_POD = PodResources(cpu="2", memory="8Gi", gpus=1)
