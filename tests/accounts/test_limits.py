"""The limiter: N hits per window per key, then blocked for a while; state in the database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.limits import Limit, limit_check, limit_hit, limit_reset, limits_prune
from apps.accounts.models import Throttle

LOCK = Limit("test", 3, timedelta(minutes=15), timedelta(minutes=15))
RATE = Limit("rate", 2, timedelta(seconds=60))


@pytest.mark.django_db
def test_it_blocks_a_key_at_the_limit_for_the_block_and_frees_it_after():
    now = timezone.now()
    assert not limit_hit(limit=LOCK, key="alice", now=now).blocked
    assert not limit_hit(limit=LOCK, key="alice", now=now).blocked
    third = limit_hit(limit=LOCK, key="alice", now=now)
    assert third.blocked and third.just_blocked and third.retry_after == 900
    assert limit_check(limit=LOCK, key="alice", now=now + timedelta(minutes=14)).blocked
    assert not limit_check(limit=LOCK, key="bob", now=now).blocked  # other keys are free
    assert not limit_check(limit=LOCK, key="alice", now=now + timedelta(minutes=15, seconds=1)).blocked


@pytest.mark.django_db
def test_hits_while_blocked_neither_count_nor_extend_the_block():
    now = timezone.now()
    for _ in range(3):
        limit_hit(limit=LOCK, key="alice", now=now)
    for minute in range(1, 15):
        verdict = limit_hit(limit=LOCK, key="alice", now=now + timedelta(minutes=minute))
        assert verdict.blocked and not verdict.just_blocked
    after = now + timedelta(minutes=15, seconds=1)
    assert not limit_hit(limit=LOCK, key="alice", now=after).blocked  # a fresh count starts


@pytest.mark.django_db
def test_hits_spread_over_more_than_the_window_never_block():
    start = timezone.now()
    for n in range(10):
        assert not limit_hit(limit=LOCK, key="slow", now=start + n * timedelta(minutes=8)).blocked


@pytest.mark.django_db
def test_a_plain_rate_limit_blocks_until_the_window_ends():
    now = timezone.now()
    limit_hit(limit=RATE, key="token-1", now=now)
    verdict = limit_hit(limit=RATE, key="token-1", now=now + timedelta(seconds=10))
    assert verdict.blocked and verdict.retry_after == 50
    assert not limit_check(limit=RATE, key="token-1", now=now + timedelta(seconds=61)).blocked


@pytest.mark.django_db
def test_reset_forgets_a_key_and_keys_are_stored_hashed():
    limit_hit(limit=LOCK, key="my-password-typed-as-a-name")
    assert not Throttle.objects.filter(key__contains="password").exists()
    limit_reset(limit=LOCK, key="my-password-typed-as-a-name")
    assert not Throttle.objects.exists()


@pytest.mark.django_db
def test_prune_deletes_only_rows_long_over():
    now = timezone.now()
    limit_hit(limit=LOCK, key="old", now=now - timedelta(days=2))
    limit_hit(limit=LOCK, key="new", now=now)
    assert limits_prune() == 1
    assert Throttle.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_hits_are_each_counted():
    """Eight processes' worth of requests at once: the row lock makes the count exact."""
    limit = Limit("parallel", 100, timedelta(minutes=5), timedelta(minutes=5))
    limit_hit(limit=limit, key="k")  # the row exists; the race is on its count
    barrier = threading.Barrier(8)

    def hit():
        barrier.wait()
        for _ in range(5):
            limit_hit(limit=limit, key="k")
        connection.close()

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Throttle.objects.get(scope="parallel").hits == 41
