"""Request scheduling: the in-process delaying scheduler and the shared Redis queue."""
