"""Builds the intake application and the read model for one store URL."""

from __future__ import annotations

from dataclasses import dataclass

from engine.settings import eventsourcing_environment
from projections.database import Database
from projections.status import ReadModelView, StatusProjection, catch_up
from streams.intake import LifeEventIntake


@dataclass
class Engine:
    """The parts that share one store: the intake (event store) and the status projection."""

    intake: LifeEventIntake
    projection: StatusProjection

    @property
    def view(self) -> ReadModelView:
        return self.projection.view

    def refresh(self) -> int:
        """Bring the read model up to date with the event store."""
        return catch_up(self.intake, self.projection)

    def close(self) -> None:
        self.intake.close()
        self.view.database.close()


def open_engine(store_url: str, aggregate_cache: int = 100_000) -> Engine:
    env = eventsourcing_environment(store_url)
    # Aggregates stay in memory between batches. The intake is the only writer of a person
    # (Kafka keys by person), so no fast-forward read per person; on a conflict the intake
    # evicts what it touched and retries once.
    env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache)
    env["AGGREGATE_CACHE_FASTFORWARD"] = "n"
    env["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "n"
    intake = LifeEventIntake(env=env)
    projection = StatusProjection(ReadModelView(Database(store_url)))
    return Engine(intake=intake, projection=projection)
