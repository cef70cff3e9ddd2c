"""deploy/helm/values.yaml: valid for the chart's keys we use, and consistent with the project."""

import json
import tomllib
from pathlib import Path

import dagster as dg
import jsonschema
import pytest
import yaml

from tests.conftest import REPO_ROOT

VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
SCHEMA = Path(__file__).with_name("chart_values_subset.schema.json")


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def deployment(values: dict) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def test_values_match_the_chart_schema_of_the_keys_we_use(values: dict):
    jsonschema.validate(values, json.loads(SCHEMA.read_text()))


def test_the_schema_rejects_what_the_chart_rejects(values: dict):
    schema = json.loads(SCHEMA.read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    wrong = [
        {**values, "runLauncher": {**values["runLauncher"], "type": "K8sLauncher"}},
        {**values, "dagsterWebUI": {}},
        {
            **values,
            "runLauncher": {
                "type": "K8sRunLauncher",
                "config": {"k8sRunLauncher": {**launcher, "cpu": "2"}},
            },
        },
    ]
    for bad in wrong:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_runs_go_to_kubernetes_jobs_and_storage_to_postgresql(values: dict):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagster-user-deployments"]["enabled"] is True
    assert values["postgresql"]["postgresqlDatabase"] == "quant_dagster"
    assert values["postgresql"]["postgresqlPassword"] == ""  # from a secret, never in the file
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_the_code_server_serves_our_code_location(deployment: dict):
    args = deployment["dagsterApiGrpcArgs"]
    option = dict(zip(args[::2], args[1::2], strict=True))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    assert option["--module-name"] == location["python_module"]["module_name"]
    assert option["--location-name"] == project["code_location_name"]
    assert option["--working-directory"] == "/opt/quant"  # WORKDIR of deploy/Dockerfile
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["QUANT_PROFILE"] == "production"  # defines the fan-out jobs
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_every_pod_mounts_the_shared_quant_home(values: dict, deployment: dict):
    home = {item["name"]: item["value"] for item in deployment["env"]}["QUANT_HOME"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for pod in (deployment, launcher):
        (mount,) = pod["volumeMounts"]
        (volume,) = pod["volumes"]
        assert mount == {"name": volume["name"], "mountPath": home}
        assert volume["persistentVolumeClaim"]["claimName"] == "quant-home"


def test_run_limits_are_the_production_profiles(values: dict):
    production = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.production.yaml").read_text())
    assert values["additionalInstanceConfig"]["concurrency"] == production["concurrency"]


def _instance_yaml(values: dict) -> dict:
    """The parts of the chart's dagster.yaml our values decide: the queued run coordinator
    (with any limits of its own) and the additional instance config."""
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    if queued:
        coordinator["config"] = {
            "max_concurrent_runs": queued["maxConcurrentRuns"],
        }
    return {"run_coordinator": coordinator, **values["additionalInstanceConfig"]}


def test_dagster_accepts_the_instance_the_chart_renders(values: dict, tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(_instance_yaml(values)))
    wanted = values["additionalInstanceConfig"]["concurrency"]["runs"]
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == wanted["max_concurrent_runs"]
        assert list(queue.tag_concurrency_limits) == wanted["tag_concurrency_limits"]


def test_dagster_refuses_run_limits_set_twice(values: dict, tmp_path: Path):
    """The check above can fail: limits in the run coordinator as well are a conflict."""
    runs = values["additionalInstanceConfig"]["concurrency"]["runs"]
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    twice = {
        **values,
        "dagsterDaemon": {
            **values["dagsterDaemon"],
            "runCoordinator": {
                **coordinator,
                "config": {
                    "queuedRunCoordinator": {"maxConcurrentRuns": runs["max_concurrent_runs"]}
                },
            },
        },
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(_instance_yaml(twice)))
    with pytest.raises(Exception, match="max_concurrent_runs"):
        dg.DagsterInstance.from_config(str(tmp_path))
