# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

Waiting with a bound: the Waiter polls until a state is reached or its deadline passes, and the
poll delays that keep the lag after a change small and the request count low.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


# A wait that has lasted this long is looked at less often, whatever its state does: its lag matters less.
LONG_WAIT = 20.0
# While a wait lasts, a progress line at least this often (and at every change of state).
PROGRESS_EVERY = 30.0


def poll_delay(seconds_in_state: float, seconds_waited: float = 0.0, first: float = 0.25, ratio: float = 0.1,
               long_ratio: float = 0.2, cap: float = 45.0) -> float:
    """Seconds to sleep before the next look. A state just entered is looked at again soon, one that has lasted a
    while less often, so the lag after a change stays near ``ratio`` of the time the state lasted. Once the wait
    has lasted ``LONG_WAIT`` seconds, a look at least ``long_ratio`` of the time waited apart: the phases of a
    ten-minute promotion then cost tens of requests, not hundreds. ``cap`` keeps a progress line within a minute."""
    return min(cap, max(first, ratio * seconds_in_state, long_ratio * seconds_waited if seconds_waited > LONG_WAIT else 0.0))


def progress_text(entry: dict[str, Any]) -> str:
    """A history entry (a status, or a lock state) as the tenant said it."""
    if 'status' in entry:
        return '%s: %s' % (entry.get('status') or 'unknown', entry.get('message') or 'no message')
    text = 'lock %s' % (entry.get('result') or 'unknown')
    return text + (' (%s)' % entry['description'] if entry.get('description') else '')


class WaitTimeout(Exception):
    def __init__(self, last: Any, elapsed: float, error: Exception | None = None) -> None:
        super(WaitTimeout, self).__init__('still waiting after %.0f s' % elapsed)
        self.last = last  # the last value read, None if no read succeeded
        self.elapsed = elapsed
        self.error = error  # the last tolerated failure, if any


class Waiter:
    """Polls ``read`` until ``done(value)``, keeping a history of each state seen (``key(value)``
    tells states apart). Every wait of one Waiter shares one deadline, ``timeout`` seconds after it
    was made. Failures for which ``tolerate(exc)`` is true (a busy tenant, a lost answer) count as
    no news until the deadline. Clock and sleep are injectable for the tests."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time, progress: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.progress = progress  # takes a line at each change of state and every PROGRESS_EVERY seconds
        self.sleep = sleep
        self.wall = wall
        self.start = clock()
        self.deadline = self.start + timeout
        self.history: list[dict[str, Any]] = []
        self.paused_told_at: float | None = None

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def pause(self, seconds: float, topic: str = '', reason: str = '') -> None:
        """Sleep ``seconds`` (less if the deadline is nearer); WaitTimeout once it has passed. With ``reason`` (why
        the wait goes on), a progress line at the first pause and every PROGRESS_EVERY seconds after."""
        now = self.clock()
        if now >= self.deadline:
            raise WaitTimeout(None, now - self.start)
        if reason and self.progress is not None and (self.paused_told_at is None or now - self.paused_told_at >= PROGRESS_EVERY):
            self.paused_told_at = now
            self.progress('%s%s (%.0f s)' % (topic + ': ' if topic else '', reason, now - self.start))
        self.sleep(min(seconds, self.remaining()))

    def until(self, read: Callable[[], Any], done: Callable[[Any], bool], key: Callable[[Any], Any] = lambda value: value,
              describe: Callable[[Any], dict[str, Any]] = lambda value: {},
              tolerate: Callable[[Exception], bool] = lambda exc: False, topic: str = '') -> tuple[Any, float]:
        value, error = None, None
        last_key = object()
        changed_at = told_at = waited_from = self.clock()
        while True:
            try:
                value, error = read(), None
            except Exception as exc:  # pylint: disable=broad-exception-caught  # re-raised unless tolerated
                if not tolerate(exc):
                    raise
                error = exc
            now = self.clock()
            if error is None:
                current = key(value)
                entered = current != last_key
                if entered:
                    last_key, changed_at = current, now
                    self.history.append(dict(describe(value), time=self._stamp(), elapsed=round(now - self.start, 2)))
                if done(value):
                    return value, now - self.start
                if entered or now - told_at >= PROGRESS_EVERY:
                    told_at = self._tell(topic, now, changed_at)
            if now >= self.deadline:
                raise WaitTimeout(value, now - self.start, error)
            self.sleep(min(poll_delay(now - changed_at, now - waited_from), self.deadline - now))

    def _tell(self, topic: str, now: float, changed_at: float) -> float:
        """A progress line: what is awaited, the state the tenant last showed and how long it has shown it."""
        if self.progress is not None and self.history:
            lasted = now - changed_at
            self.progress('%s%s (%.0f s%s)' % (topic + ': ' if topic else '', progress_text(self.history[-1]), now - self.start,
                                               ', %.0f s in this state' % lasted if lasted >= 1 else ''))
        return now

    def _stamp(self) -> str:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.wall()))
