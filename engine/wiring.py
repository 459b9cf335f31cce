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


def open_engine(store_url: str) -> Engine:
    intake = LifeEventIntake(env=eventsourcing_environment(store_url))
    projection = StatusProjection(ReadModelView(Database(store_url)))
    return Engine(intake=intake, projection=projection)
