"""Read models derived from the event store, each with a tracked position and rebuildable."""
