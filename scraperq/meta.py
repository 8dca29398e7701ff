"""The ``Request.meta`` keys scraperq's own components write and read, in one neutral place.

The queue, the task middlewares, the retries and the settling of tasks all read them, so
they live below all of those (docs/architecture.md, floor 0) and import nothing.
"""

# The task a request belongs to (its tasks.id), and whether it is the task's own page.
TASK_ID = "task_id"
TASK_ROOT = "task_root"
# When a delayed retry may go (a UNIX time): it waits in the scheduler until then.
NOT_BEFORE = "not_before"
