from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth_service.domain.lockout import FailureCounter, LockoutPolicy

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = LockoutPolicy()  # threshold 5, base 60 s, max 900 s, reset after 12 h


def at(seconds: float) -> datetime:
    return NOON + timedelta(seconds=seconds)


def fail(counter: FailureCounter, times: int, now: datetime, policy: LockoutPolicy = POLICY) -> list[bool]:
    return [counter.record_failure(now, policy) for _ in range(times)]


def test_failures_below_the_threshold_do_not_lock() -> None:
    counter = FailureCounter("k")

    locks = fail(counter, 4, NOON)

    assert locks == [False] * 4
    assert counter.retry_after(NOON) is None


def test_the_threshold_failure_starts_a_lock_of_the_base_duration() -> None:
    counter = FailureCounter("k")
    fail(counter, 4, NOON)

    locked = counter.record_failure(NOON, POLICY)

    assert locked
    assert counter.locked_until == at(60)
    assert counter.retry_after(NOON) == 60


def test_each_failure_after_a_lock_expired_locks_again_for_twice_as_long_up_to_the_cap() -> None:
    counter = FailureCounter("k")
    fail(counter, 5, NOON)
    durations = []

    for _ in range(6):
        now = counter.locked_until
        assert now is not None and counter.retry_after(now) is None  # the previous lock is over
        assert counter.record_failure(now, POLICY)
        durations.append(counter.retry_after(now))

    assert durations == [120, 240, 480, 900, 900, 900]


def test_retry_after_rounds_up_and_ends_with_the_lock() -> None:
    counter = FailureCounter("k")
    fail(counter, 5, NOON)

    assert counter.retry_after(at(59.2)) == 1
    assert counter.retry_after(at(0.5)) == 60
    assert counter.retry_after(at(60)) is None


def test_failures_more_than_the_reset_period_after_the_last_one_stop_counting() -> None:
    counter = FailureCounter("k")
    fail(counter, 4, NOON)

    locks = fail(counter, 4, at(12 * 3600 + 1))

    assert locks == [False] * 4
    assert counter.failures == 4


def test_a_failure_exactly_at_the_reset_period_still_counts() -> None:
    counter = FailureCounter("k")
    fail(counter, 4, NOON)

    assert counter.record_failure(at(12 * 3600), POLICY)


def test_the_reset_period_forgets_the_doubling_too() -> None:
    counter = FailureCounter("k")
    fail(counter, 5, NOON)
    later = at(12 * 3600 + 61)

    locks = fail(counter, 5, later)

    assert locks == [False] * 4 + [True]
    assert counter.retry_after(later) == 60


def test_a_custom_policy_is_obeyed() -> None:
    policy = LockoutPolicy(threshold=3, base=timedelta(seconds=10), maximum=timedelta(seconds=30),
                           reset_after=timedelta(minutes=5))
    counter = FailureCounter("k")

    locks = fail(counter, 3, NOON, policy)
    counter.record_failure(at(10), policy)
    second = counter.retry_after(at(10))
    counter.record_failure(at(30), policy)
    third = counter.retry_after(at(30))

    assert locks == [False, False, True]
    assert (second, third) == (20, 30)
