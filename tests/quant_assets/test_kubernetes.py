"""Kubernetes fan-out: per-step pod resources from the assets' tags, the k8s job in the
production profile only, local runs untouched."""

import pytest

from quant_assets.pod_resources import K8S_CONFIG_TAG, PodResources

k8s_job = pytest.importorskip("dagster_k8s.job", reason="dagster-k8s is not installed")

ZOO = {"alpha_ridge", "alpha_mlp", "alpha_lstm", "alpha_tcn", "alpha_transformer"}


def _definitions(monkeypatch: pytest.MonkeyPatch, tmp_path, profile: str):
    monkeypatch.setenv("QUANT_PROFILE", profile)
    monkeypatch.setenv("QUANT_POSTGRES_URL", "postgresql://quant@127.0.0.1:5432")  # unused
    monkeypatch.setenv("QUANT_HOME", str(tmp_path))
    from quant_assets.definitions import defs

    return defs()


def _pod_container(asset) -> dict:
    """The container of the step pod the k8s_job_executor would create for ``asset``."""
    config = k8s_job.get_user_defined_k8s_config(asset.op.tags)
    job = k8s_job.construct_dagster_k8s_job(
        job_config=k8s_job.DagsterK8sJobConfig(
            job_image="quant-platform:test", dagster_home="/opt/dagster/dagster_home"
        ),
        args=["dagster", "api", "execute_step"],
        job_name=f"step-{asset.key.to_user_string().replace('_', '-')}",
        user_defined_k8s_config=config,
    )
    pod = job.spec.template.spec
    return {"resources": pod.containers[0].resources, "tolerations": pod.tolerations or []}


def test_each_family_asks_for_its_own_pod_resources(monkeypatch, tmp_path):
    definitions = _definitions(monkeypatch, tmp_path, "local")
    assets = {a.key.to_user_string(): a for a in definitions.assets if hasattr(a, "op")}
    for name in ZOO | {"alpha_model"}:
        container = _pod_container(assets[name])
        requests, limits = container["resources"].requests, container["resources"].limits
        assert requests["cpu"] and requests["memory"] == limits["memory"]
        gpus = limits.get("nvidia.com/gpu")
        if name in {"alpha_ridge", "alpha_model"}:
            assert gpus is None and not container["tolerations"]
        else:
            assert gpus == "1"
            assert container["tolerations"][0].key == "nvidia.com/gpu"
    assert K8S_CONFIG_TAG not in assets["raw_bars"].op.tags  # the spine's pods: the run's own


def test_the_fan_out_job_exists_only_in_production(monkeypatch, tmp_path):
    local = _definitions(monkeypatch, tmp_path, "local")
    assert "model_zoo_k8s_job" not in {job.name for job in local.resolve_all_job_defs()}
    assert local.resolve_job_def("model_zoo_job").executor_def.name != "k8s_fan_out_executor"

    production = _definitions(monkeypatch, tmp_path, "production")
    job = production.resolve_job_def("model_zoo_k8s_job")
    assert job.executor_def.name == "k8s_fan_out_executor"
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == ZOO
    assert job.tags["quant/workload"] == "training"  # the one-training-run-at-a-time limit
    other = production.resolve_job_def("model_zoo_job").executor_def.name
    assert other == local.resolve_job_def("model_zoo_job").executor_def.name


def test_pod_resources_tags():
    assert PodResources("500m", "1Gi").op_tags() == {
        K8S_CONFIG_TAG: {
            "container_config": {
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"memory": "1Gi"},
                }
            }
        }
    }
    with pytest.raises(ValueError, match="gpus"):
        PodResources("1", "1Gi", gpus=-1)
