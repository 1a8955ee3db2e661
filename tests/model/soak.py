"""make soak: many more randomized schedules than make test runs, in one process per core, each with a seed of its own.
Every violation is counted, not stopped at; the last line reads ``N schedules, K violations``, and the lines before
it name the invariant each violation broke and the first schedule that broke it (to keep as a regression example,
shrunk by running tests/model/test_schedules.py on it)."""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import random
import sys
import time

from hypothesis import HealthCheck, given, seed, settings

from ansible_collections.idcloud.promotions.plugins.module_utils._states import PROMOTION_ID as UUID

from tests.model.schedules import describe, play, scenarios


def soak(count: int, start: int) -> tuple[int, dict[str, int], dict[str, str]]:
    """``count`` schedules from the seed ``start``: how many ran, each invariant broken and how often, and a schedule
    that broke it."""
    broken: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    ran = [0]

    @seed(start)
    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(scenarios)
    def schedule(scenario):
        ran[0] += 1
        for violation in play(*scenario):
            invariant = UUID.sub('<id>', violation.split(': ', 1)[1].split(' (')[0])
            broken[invariant] += 1
            examples.setdefault(invariant, repr(describe(*scenario)))

    schedule()  # pylint: disable=no-value-for-parameter
    return ran[0], dict(broken), examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--schedules', type=int, default=20000)
    parser.add_argument('--workers', type=int, default=multiprocessing.cpu_count())
    parser.add_argument('--seed', type=int, default=random.randrange(2 ** 32))
    args = parser.parse_args()
    shares = [args.schedules // args.workers + (1 if n < args.schedules % args.workers else 0) for n in range(args.workers)]
    started = time.monotonic()
    print('seed %d, %d workers' % (args.seed, args.workers), flush=True)
    with multiprocessing.Pool(args.workers) as pool:
        parts = pool.starmap(soak, [(share, args.seed + n) for n, share in enumerate(shares)])
    ran = sum(part[0] for part in parts)
    broken: collections.Counter = collections.Counter()
    for _ran, counts, examples in parts:
        broken.update(counts)
    for invariant, times in broken.most_common():
        example = next(part[2][invariant] for part in parts if invariant in part[2])
        print('%d x %s\n    %s' % (times, invariant, example))
    print('%.0f s' % (time.monotonic() - started))
    print('%d schedules, %d violations' % (ran, sum(broken.values())))
    return 1 if broken else 0


if __name__ == '__main__':
    sys.exit(main())
