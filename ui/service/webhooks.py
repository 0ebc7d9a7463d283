"""Webhook deliveries: one POST per final job, signed, retried with backoff, off the request path.

One background thread sends everything; a delivery that fails (a connection error, a timeout, ``429``
or ``5xx``) is tried again after the next delay (1, 2, 4, 8 s: five tries in all). A retry waits in a
queue ordered by when it is due, so one slow receiver does not hold up the others' first tries longer
than its own timeout. Only the standard library is used: a webhook is one small POST.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Sequence
from urllib.parse import urlsplit

log = logging.getLogger("reelgraph.service")

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
TIMEOUT_S = 10.0


def owner_secret(webhook_key: bytes, owner: str) -> str:
    """An owner's signing secret (hex), derived from the server's key: never stored, the same after a restart."""
    return hmac.new(webhook_key, owner.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Reelgraph-Signature`` header: ``sha256=`` HMAC-SHA256 of the raw body keyed with the
    owner's secret (the hex string ``GET /api/webhook-secret`` gives)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    """``url`` if it is http(s) with a host; ValueError (which the API answers as 422) otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a webhook must be an http:// or https:// URL with a host, not {url!r}")
    return url


@dataclass(order=True)
class _Delivery:
    due: float
    order: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict = field(compare=False)
    tries: int = field(default=0, compare=False)


class WebhookSender:
    """Sends webhook POSTs on one daemon thread, started with the first delivery."""

    def __init__(self, webhook_key: bytes, *, delays: Sequence[float] = RETRY_DELAYS, timeout: float = TIMEOUT_S,
                 event: str = "job.finished"):
        self.webhook_key = webhook_key
        self.delays = tuple(delays)
        self.timeout = timeout
        self.event = event
        self._heap: list[_Delivery] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.sent: list[tuple[str, int | None]] = []  # (delivery id, final status) for logs and tests

    def secret(self, owner: str) -> str:
        return owner_secret(self.webhook_key, owner)

    def send(self, url: str, body: bytes, owner: str) -> str:
        """Queue one delivery of ``body`` to ``url``, signed with the owner's secret; returns its id."""
        check_url(url)
        delivery = str(uuid.uuid4())
        headers = {"Content-Type": "application/json", "User-Agent": "reelgraph-webhook",
                   "X-Reelgraph-Event": self.event, "X-Reelgraph-Delivery": delivery,
                   "X-Reelgraph-Signature": sign(self.secret(owner), body)}
        with self._cond:
            if self._closed:
                log.warning("webhook %s to %s dropped: the server is stopping", delivery, url)
                return delivery
            heapq.heappush(self._heap, _Delivery(time.monotonic(), next(self._order), url, body, headers))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="reelgraph-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify()
        return delivery

    def close(self, timeout: float = 5.0) -> None:
        """Stop; deliveries still waiting for a retry are dropped (and logged)."""
        with self._cond:
            self._closed = True
            left = len(self._heap)
            self._cond.notify_all()
        if left:
            log.warning("%d webhook deliveries dropped: the server is stopping", left)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0].due > time.monotonic()):
                    self._cond.wait(None if not self._heap else self._heap[0].due - time.monotonic())
                if self._closed:
                    return
                item = heapq.heappop(self._heap)
            status, retry = self._post(item)
            item.tries += 1
            if retry and item.tries <= len(self.delays):
                item.due = time.monotonic() + self.delays[item.tries - 1]
                with self._cond:
                    heapq.heappush(self._heap, item)
                continue
            if retry or status is None or status >= 400:
                log.warning("webhook %s to %s failed after %d tries (last: %s)", item.headers["X-Reelgraph-Delivery"],
                            item.url, item.tries, status)
            self.sent.append((item.headers["X-Reelgraph-Delivery"], status))

    def _post(self, item: _Delivery) -> tuple[int | None, bool]:
        """(HTTP status or None, whether to try again)."""
        req = urllib.request.Request(item.url, data=item.body, headers=item.headers, method="POST")
        try:
            with contextlib.closing(urllib.request.urlopen(req, timeout=self.timeout)) as resp:  # noqa: S310 - http(s) only
                return resp.status, False
        except urllib.error.HTTPError as e:
            e.close()
            return e.code, e.code == 429 or e.code >= 500
        except (urllib.error.URLError, OSError, ValueError) as e:  # refused, reset, timed out
            log.info("webhook %s to %s: %s", item.headers["X-Reelgraph-Delivery"], item.url, e)
            return None, True
