"""The benefits domain: aggregates, domain events and dated policy rules. No I/O lives here."""
