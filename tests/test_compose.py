"""docker-compose.yaml cannot run here (no Docker engine), so its structure is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_airflow_services_run_the_airflow_3_components(compose):
    services = compose["services"]
    commands = {
        name: services[name]["command"]
        for name in ("api-server", "scheduler", "dag-processor", "triggerer", "airflow-init")
    }
    assert commands == {
        "api-server": ["api-server"],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer"],
        "airflow-init": ["db", "migrate"],
    }


def test_profiles_add_celery_workers_and_the_sandbox(compose):
    services = compose["services"]
    assert services["redis"]["profiles"] == ["celery"]
    assert services["worker"]["profiles"] == ["celery"]
    assert services["worker"]["command"] == ["celery", "worker"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert "--sample" in services["sandbox"]["entrypoint"]
    assert {"5010:5010", "5020:5020"} <= set(services["sandbox"]["ports"])


def test_every_airflow_service_gets_the_connections_and_the_checkout(compose):
    for name in ("api-server", "scheduler", "dag-processor", "triggerer", "worker"):
        service = compose["services"][name]
        env = service["environment"]
        for conn in (
            "AIRFLOW_CONN_HARVEST_DEFAULT",
            "AIRFLOW_CONN_JIRA_DEFAULT",
            "AIRFLOW_CONN_H2J_POSTGRES",
        ):
            assert json.loads(env[conn])["conn_type"] in ("http", "postgres"), (name, conn)
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/h2j/dags"
        mounts = {volume.split(":")[0] for volume in service["volumes"]}
        assert {"./dags", "./plugins", "./include"} <= mounts
        assert (ROOT / "dags").is_dir()


def test_image_installs_requirements_and_ledger_database_is_created(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "apache/airflow:3.3" in dockerfile
    assert "requirements.txt" in dockerfile
    init = compose["services"]["postgres"]["volumes"]
    assert any(v.startswith("./tools/compose-init.sql:") for v in init)
    assert "CREATE DATABASE h2j" in (ROOT / "tools" / "compose-init.sql").read_text()
    assert set(compose["volumes"]) == {"postgres-data", "airflow-logs"}
