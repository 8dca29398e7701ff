# Scrapy settings for the scraperq project.
#
# Values and dotted paths only. Every upper-case name here, and every Scrapy setting, can be
# overridden by an environment variable of the same name, typed by what the setting is
# (scraperq/config.py); `-s NAME=VALUE` on the command line overrides both.

BOT_NAME = "scraperq"

SPIDER_MODULES = ["scraperq.spiders"]
NEWSPIDER_MODULE = "scraperq.spiders"
# `scrapy crawl` that reports bad input (URL, arguments, database) in one line, exit status 2.
COMMANDS_MODULE = "scraperq.commands"
# Python spiders from SPIDER_MODULES plus one spider per source file (scraperq/sources/README.md):
# the package's own sources, and those in SCRAPERQ_SOURCES_DIR (folders separated by ":").
SPIDER_LOADER_CLASS = "scraperq.sources.loader.SourceSpiderLoader"
SCRAPERQ_SOURCES_DIR = None

# --- Storage ------------------------------------------------------------------------
# postgresql://... in production; unset means the embedded SQLite file at
# $XDG_DATA_HOME/scraperq/scraperq.sqlite3 (~/.local/share/scraperq/scraperq.sqlite3).
DATABASE_URL = None
# Results and task updates are written in batches: one transaction per batch.
# Skip pages already stored for the same spider, across runs (-a only_new=1 for one crawl).
SCRAPERQ_ONLY_NEW = False
SCRAPERQ_BATCH_SIZE = 100
SCRAPERQ_BATCH_SECONDS = 1.0
# tasks.source for the start URLs of this crawl; empty: cli, start or redis as it happens.
# The scheduler daemon sets it to "schedule" on the jobs it dispatches.
SCRAPERQ_TASK_SOURCE = ""

# --- Queue --------------------------------------------------------------------------
# Unset: Scrapy's in-process scheduler (one process). Set: the shared Redis queue.
REDIS_URL = None
# Picks scraperq.queue.local.DelayingScheduler or the Redis scheduler from REDIS_URL.
SCHEDULER = "scraperq.queue.scheduler.Scheduler"
# The seen-set, per task (a later run fetches a URL again); in Redis with REDIS_URL.
DUPEFILTER_CLASS = "scraperq.queue.dupefilter.TaskDupeFilter"
# Extra redis.Redis arguments, as in scrapy-redis (keys: scraperq/queue/defaults.py).
REDIS_PARAMS = {}
# A worker's entries go back to the queue this long after it stops renewing its lease.
SCRAPERQ_LEASE_SECONDS = 30.0
# Deliveries that ended with the worker gone before an entry is dead-lettered.
SCRAPERQ_MAX_DELIVERIES = 5
# Entries a worker keeps ready for its engine, asked for ahead of need because answers
# take a turn of a busy reactor; at most 2 x CONCURRENT_REQUESTS, so that a worker does not
# sit on much work an idle one could start. An idle worker looks for work this often.
SCRAPERQ_QUEUE_PREFETCH = 32
SCRAPERQ_QUEUE_POLL_SECONDS = 0.5
# Start payloads turned into tasks per round trip, and only while fewer requests wait.
SCRAPERQ_FEED_BATCH = 100
SCRAPERQ_FEED_BACKLOG = 1000
# Larger start payloads go to <spider>:dead.
SCRAPERQ_MAX_PAYLOAD_BYTES = 65536
# Seen-set shards of a task that never finishes expire after this many seconds.
SCRAPERQ_SEEN_TTL = 604800
# Dead letters kept per spider (the oldest are dropped).
SCRAPERQ_DEAD_MAX = 100000

# --- Scheduler daemon and Scrapyd -----------------------------------------------------
SCRAPYD_NODES = "http://127.0.0.1:6800"
SCRAPYD_PROJECT = "scraperq"
# The daemon's HTTP API (scheduler/api/): a token is required to bind off loopback.
SCRAPERQ_API_BIND = "127.0.0.1:6810"
SCRAPERQ_API_TOKEN = None
# Largest request body the API reads, in bytes; larger ones get 413.
SCRAPERQ_API_MAX_BODY = 1024 * 1024
# Seconds between the console's looks at its panels (at least 0.5).
SCRAPERQ_CONSOLE_REFRESH = 4.0
# Seconds each HTTP call to a Scrapyd node may take before the node counts as down.
SCRAPYD_TIMEOUT = 10.0
# Jobs a node runs at once (its max_proc), for least-loaded dispatch; per node: URL#capacity=N.
SCRAPYD_NODE_CAPACITY = 4
# The daemon's loop: schedule changes are seen within one tick; jobs are followed every TRACK seconds.
SCRAPERQ_SCHEDULER_TICK = 1.0
SCRAPERQ_SCHEDULER_TRACK_INTERVAL = 2.0
# A fire time missed (no daemon running) is still run if the daemon is back within this many
# seconds (several missed ones coalesce into one run); older ones are recorded as missed.
SCRAPERQ_MISFIRE_GRACE = 600.0
# A job whose node cannot be reached for this long is recorded as failed (one whose crawl
# reports itself is lost only when its heartbeat stops).
SCRAPERQ_JOB_LOST_AFTER = 900.0
# A crawl run by Scrapyd records itself in job_runs (scraperq/jobreport.py), with a heartbeat
# every so many seconds; the scheduler takes it for gone after six heartbeats without one.
SCRAPERQ_JOB_REPORT = True
SCRAPERQ_JOB_HEARTBEAT = 10.0
# When many fire times fall due at once, schedule.json calls made to each node at the same time.
SCRAPERQ_DISPATCH_CONCURRENCY = 8
# Retention (scheduler/maintenance.py): days finished tasks, their results and old job runs are kept
# (0 keeps them for ever), applied by the leading daemon once a day at this local time and zone.
SCRAPERQ_RETENTION_DAYS = 7
SCRAPERQ_RETENTION_AT = "03:30"
SCRAPERQ_RETENTION_TIMEZONE = "UTC"
# Where retention and `scraperq purge` archive before deleting: file:///path or s3://bucket/prefix
# (credentials from the AWS environment variables); the endpoint of MinIO or another S3-compatible store.
SCRAPERQ_ARCHIVE_URL = None
SCRAPERQ_ARCHIVE_ENDPOINT_URL = None

# --- Safety -------------------------------------------------------------------------
# "0": refuse loopback/private/link-local/multicast/reserved addresses; "1": allow all;
# or a comma-separated list of networks to allow, e.g. "127.0.0.0/8,10.1.0.0/16".
SCRAPERQ_ALLOW_PRIVATE = "0"
# Connections get their addresses from this resolver, which hands out only addresses the rule
# above allows, IPv4 and IPv6, whatever DNSCACHE_ENABLED says (scraperq/resolver.py).
TWISTED_DNS_RESOLVER = "scraperq.resolver.GuardedResolver"
# DNS servers to ask instead of the system's resolver, e.g. "10.0.0.2,127.0.0.1:5353"; empty: the system's.
SCRAPERQ_DNS_SERVERS = ""
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote-control server runs Python code sent to it over HTTP: off.
REMOTE_CONTROL_ENABLED = False
# Only http(s): no local files, inline data, S3 or FTP.
DOWNLOAD_HANDLERS = {
    "file": None,
    "data": None,
    "s3": None,
    "ftp": None,
    # Plain HTTP as usual; requests that ask for rendering go to Chromium (scraperq/rendering/).
    "http": "scraperq.rendering.handler.RenderingDownloadHandler",
    "https": "scraperq.rendering.handler.RenderingDownloadHandler",
}

# --- Retries ------------------------------------------------------------------------
# Connection errors, timeouts and HTTP 408/429/5xx: retried with exponential backoff
# (SCRAPERQ_RETRY_BACKOFF, then twice that, ...), Retry-After honoured up to the cap.
SCRAPERQ_RETRY_TIMES = 3
SCRAPERQ_RETRY_BACKOFF = 5.0
SCRAPERQ_RETRY_MAX_DELAY = 600.0
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
# Scrapy's list minus CannotResolveHostError: a name that does not resolve now will not
# in 35 s either, and the task should say so at once.
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    "builtins.OSError",
    "scrapy.core.downloader.handlers.http11.TunnelError",
]
DOWNLOAD_TIMEOUT = 30

# --- Politeness -----------------------------------------------------------------------
USER_AGENT = "scraperq/0.1 (+https://github.com/scraperq/scraperq)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
# Items and requests processed at once per response. Scrapy's 100 starts 100 asyncio
# tasks for every response; a page yields a handful of objects, so 16 does the same
# work with a fraction of the scheduling overhead (measured in bench/queue_throughput.py).
CONCURRENT_ITEMS = 16
DOWNLOAD_DELAY = 0
# AutoThrottle is on for per-source spiders (scraperq/spiders/source.py); these shape it.
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
# With the shared queue, each site's delay, AutoThrottle's adaptive delay and any concurrency
# limit below hold for all the spider's workers together (scraperq/queue/slotgate.py).
SCRAPERQ_SHARED_POLITENESS = True
# Per-site limits for the whole cluster: {"example.com": {"delay": 1, "concurrency": 2}};
# a site covers its sub-domains, "*" any site. Unset sites use DOWNLOAD_DELAY.
SCRAPERQ_SITE_LIMITS: dict[str, dict[str, float]] = {}
# Count CONCURRENT_REQUESTS_PER_DOMAIN for the whole cluster rather than per worker.
SCRAPERQ_SHARE_SITE_CONCURRENCY = False

# --- JavaScript rendering (scrapy-playwright) -------------------------------------------
# Only pages that ask for it are rendered (meta playwright/render, a spider's render
# attribute, generic -a render=auto); the browser starts with the first of them.
SCRAPERQ_CHROMIUM_PATH = "/usr/bin/chromium"
# render=auto: a page with scripts and less visible text than this is rendered.
SCRAPERQ_RENDER_MIN_TEXT = 200
# A browser context is replaced after this many pages, so its memory does not pile up.
SCRAPERQ_RENDER_PAGES_PER_CONTEXT = 100
# Resource types the browser does not load (text is what we keep).
SCRAPERQ_RENDER_SKIP_RESOURCES = "image,media,font"
# Seconds to wait for a source's render_wait_for selector.
SCRAPERQ_RENDER_WAIT_TIMEOUT = 10.0
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000

# --- Components -----------------------------------------------------------------------
# Scrapy's downloader, telling scraperq/settling.py what each download ended with, so every task ends.
DOWNLOADER = "scraperq.settling.TaskDownloader"
DOWNLOADER_MIDDLEWARES = {
    # Lowest number: sees each request's final outcome, after retries and redirects.
    "scraperq.middlewares.tasks.TaskStatusMiddleware": 50,
    # Before anything else touches the network, including robots.txt and redirects.
    "scraperq.middlewares.ssrf.SSRFGuardMiddleware": 60,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scraperq.middlewares.retry.BackoffRetryMiddleware": 550,
    # Just before RedirectMiddleware (600) sees a response: redirects it cannot follow fail in words.
    "scraperq.middlewares.redirects.RedirectGuardMiddleware": 610,
    # Inside retries: an app shell is fetched again in the browser before anyone sees it.
    "scraperq.rendering.middleware.RenderMiddleware": 580,
}
SPIDER_MIDDLEWARES = {
    # Spiders written for scrapy-redis: their redis_key is read under leases (scraperq/middlewares/scrapyredis.py).
    "scraperq.middlewares.scrapyredis.ScrapyRedisSpiderMiddleware": 40,
    "scraperq.middlewares.tasks.TaskSpiderMiddleware": 50,
    # Only-new crawls: drops requests for pages stored before (off unless asked for).
    "scraperq.onlynew.OnlyNewMiddleware": 60,
}
ITEM_PIPELINES = {
    "scraperq.pipelines.validate.ValidatePipeline": 100,
    "scraperq.pipelines.store.StorePipeline": 900,
}
EXTENSIONS = {
    "scraperq.extensions.FreezeStartupObjects": 0,
    # Scrapyd jobs: heartbeat and end in job_runs (off outside Scrapyd).
    "scraperq.jobreport.JobReport": 10,
}
# Keep start-up objects out of the garbage collector's full passes (extensions.py says why).
SCRAPERQ_GC_FREEZE = True

# --- Scrapy defaults we pin -------------------------------------------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

# Environment overrides (DESIGN.md: Configuration), set on every crawler's settings with project
# priority (scraperq/config.py); `scrapy crawl` and `scrapy settings` apply them before `-s`.
ADDONS = {"scraperq.config.EnvironmentSettings": 0}
