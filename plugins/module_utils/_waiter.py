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


def poll_delay(seconds_in_state: float, first: float = 0.25, ratio: float = 0.1, cap: float = 15.0) -> float:
    """Seconds to sleep before the next look. A state just entered is looked at again soon, one
    that has lasted a while less often: the lag after a change stays near ``ratio`` of the time
    the state lasted, and a ten-minute restart costs tens of requests, not thousands."""
    return min(cap, max(first, ratio * seconds_in_state))


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
                 wall: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.start = clock()
        self.deadline = self.start + timeout
        self.history: list[dict[str, Any]] = []

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (less if the deadline is nearer); WaitTimeout once it has passed."""
        if self.clock() >= self.deadline:
            raise WaitTimeout(None, self.clock() - self.start)
        self.sleep(min(seconds, self.remaining()))

    def until(self, read: Callable[[], Any], done: Callable[[Any], bool], key: Callable[[Any], Any] = lambda value: value,
              describe: Callable[[Any], dict[str, Any]] = lambda value: {},
              tolerate: Callable[[Exception], bool] = lambda exc: False) -> tuple[Any, float]:
        value, error = None, None
        last_key = object()
        changed_at = self.clock()
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
                if current != last_key:
                    last_key, changed_at = current, now
                    self.history.append(dict(describe(value), time=self._stamp(), elapsed=round(now - self.start, 2)))
                if done(value):
                    return value, now - self.start
            if now >= self.deadline:
                raise WaitTimeout(value, now - self.start, error)
            self.sleep(min(poll_delay(now - changed_at), self.deadline - now))

    def _stamp(self) -> str:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.wall()))
