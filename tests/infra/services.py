"""The servers the integration tests start: they live in ``engine.servers`` (the bench uses them
too); imported here under their old names."""

from engine.servers import KafkaBroker, PostgresServer, free_port, kafka_libs

__all__ = ["KafkaBroker", "PostgresServer", "free_port", "kafka_libs"]
