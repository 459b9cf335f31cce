"""Getting life events in: decode and validate the wire contract, dead-letter, batch, apply."""
