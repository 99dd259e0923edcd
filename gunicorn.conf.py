"""gunicorn settings for serving the shop (scripts/run uses them: gunicorn -c gunicorn.conf.py).

Every value can be changed with an environment variable (SHOP_BIND, SHOP_WORKERS,
SHOP_TIMEOUT) or on gunicorn's command line, which wins over this file.
"""

import multiprocessing
import os

bind = os.environ.get("SHOP_BIND", "127.0.0.1:8000")

# Sync workers: each request holds one process, and the work is short (a few database
# statements). Two per core and one more keeps the cores busy while some wait on the
# database or the network (Stripe, SMTP in the background).
workers = int(os.environ.get("SHOP_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"

# A request longer than this is stuck (the database busy timeout is 5 s, Stripe's 10 s
# with two retries): the worker is killed and replaced.
timeout = int(os.environ.get("SHOP_TIMEOUT", "45"))
# On SIGTERM or SIGHUP, workers finish what they are answering before they stop.
graceful_timeout = 30
keepalive = 5
# Recycle each worker after a few thousand requests (with jitter, not all at once), so a
# slow leak in a library can never grow without bound.
max_requests = 5000
max_requests_jitter = 500

# Load the app once in the master and fork: a broken configuration fails at start, and
# workers share the code's memory. Database connections are not shared: shop/db.py
# disposes every engine's pool in a forked child (os.register_at_fork), so each worker
# opens its own after the fork.
preload_app = True

# The shop itself reads X-Forwarded-* (ProxyFix, SHOP_TRUSTED_PROXIES); gunicorn must not
# also trust them, or a client could claim https through a header.
forwarded_allow_ips = "127.0.0.1"
secure_scheme_headers: dict[str, str] = {}

# The longest request line gunicorn accepts (its maximum); the shop's own limit is
# SHOP_MAX_QUERY_LENGTH.
limit_request_line = 8190

# Access log on stdout: client, request id (the shop's X-Request-ID answer header), request,
# status, size, and the time taken in milliseconds.
# No control socket: its path is fixed (~/.gunicorn), so two servers on one machine would
# fight over it.
control_socket_disable = True

accesslog = "-"
access_log_format = '%(h)s %({x-request-id}o)s "%(r)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("SHOP_LOG_LEVEL", "info")
