"""``benefits scheduler``: the daily jobs on the wall clock, raising events onto Kafka."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import date

from engine.settings import Settings
from engine.wiring import open_engine
from streams.producer import LifeEventProducer
from triggers.clock import SystemClock
from triggers.scheduler import DailyJobs, run_daily


def run_scheduler(settings: Settings, first_day: date | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def main() -> None:
        engine = open_engine(settings.database_url)
        producer = LifeEventProducer(settings.kafka_bootstrap_servers, settings.life_events_topic)
        await producer.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            jobs = DailyJobs(SystemClock(), engine.view, engine.view, producer.send, first_day)
            await run_daily(jobs, stop)
        finally:
            await producer.stop()
            engine.close()

    asyncio.run(main())
