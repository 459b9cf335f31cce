"""docker-compose.yml parses and agrees with the settings the code reads."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from engine.keys import KEY_ENV
from engine.servers import SERVER_SETTINGS
from engine.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_engine_services_set_only_variables_the_code_reads_and_all_of_them() -> None:
    services = compose()["services"]
    assert services["scheduler"]["environment"] == services["worker"]["environment"]
    assert services["scheduler"]["command"] == ["benefits", "scheduler"]
    worker_env = services["worker"]["environment"]
    # The settings, and the store's key (read where the store is opened: engine.keys).
    assert set(worker_env) == set(ENVIRONMENT.values()) | {KEY_ENV}
    settings = Settings.from_environment(worker_env)
    assert settings.batch_size == 1000
    assert settings.life_events_topic == "life-events"
    assert settings.dead_letter_topic == "life-events.dlq"
    assert settings.decisions_topic == "benefit-decisions"
    assert settings.notifications_topic == "notifications"


def test_worker_points_at_the_stack_kafka_and_postgres() -> None:
    services = compose()["services"]
    settings = Settings.from_environment(services["worker"]["environment"])
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert f"PLAINTEXT://{settings.kafka_bootstrap_servers}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    db = urlsplit(settings.database_url)
    pg = services["postgres"]["environment"]
    assert (db.hostname, db.port) == ("postgres", 5432)
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    assert services["worker"]["command"] == ["benefits", "worker"]
    # The stack's PostgreSQL runs with the settings the bench and the tests measured.
    command = services["postgres"]["command"]
    assert command[0] == "postgres"
    assert " ".join(command[1:]) == " ".join(SERVER_SETTINGS)
    assert set(services["worker"]["depends_on"]) == {"kafka", "postgres"}


def test_image_installs_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("domain", "streams", "projections", "triggers", "engine", "api"):
        assert f"COPY {package} {package}" in dockerfile


def test_the_service_writes_through_kafka_to_the_stacks_store() -> None:
    services = compose()["services"]
    api = services["api"]
    assert api["command"][:2] == ["benefits", "serve"]
    assert api["command"][api["command"].index("--writes") + 1] == "kafka"
    worker = services["worker"]["environment"]
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LIFE_EVENTS_TOPIC"):
        assert api["environment"][name] == worker[name]
    # Every process that opens the store has its key, from the deployment's secret.
    for service in ("api", "worker", "scheduler"):
        assert services[service]["environment"]["BENEFITS_CIPHER_KEY"].startswith(
            "${BENEFITS_CIPHER_KEY:?"
        )
    assert "BENEFITS_JWT_SECRET" in api["environment"]
