"""medgrpo.data.dedup: the bounded-memory plan agrees with a plain in-memory reference."""

from __future__ import annotations

import random
from pathlib import Path

from medgrpo.data import dedup


def _reference(items: list[tuple[int, int] | None]) -> list[int]:
    seen_exact: set[int] = set()
    seen_ids: set[int] = set()
    codes = []
    for item in items:
        if item is None:
            codes.append(dedup.INVALID)
            continue
        exact, id_key = item
        if exact in seen_exact:
            codes.append(dedup.DUPLICATE)
            continue
        seen_exact.add(exact)
        if id_key in seen_ids:
            codes.append(dedup.ID_CONFLICT)
            continue
        seen_ids.add(id_key)
        codes.append(dedup.KEEP)
    return codes


def test_plan_matches_reference_with_many_buckets_and_collisions(tmp_path: Path) -> None:
    rng = random.Random(7)
    items: list[tuple[int, int] | None] = []
    for _ in range(20_000):
        r = rng.random()
        if r < 0.02:
            items.append(None)
        else:
            exact = rng.randrange(2**64) if r > 0.2 else rng.randrange(500)  # 18% drawn from a small pool
            id_key = exact if rng.random() > 0.01 else rng.randrange(50)  # 1% reuse a few ids
            items.append((exact, id_key))
    plan = dedup.DedupPlan(tmp_path / "work", buckets=8)
    for pos, item in enumerate(items):
        if item is None:
            plan.add_invalid(pos, f"bad {pos}")
        else:
            plan.add(pos, *item)
    statuses = dedup.statuses(plan.resolve())
    got = [next(statuses) for _ in items]
    assert [code for code, _ in got] == _reference(items)
    assert all(reason == f"bad {pos}" for pos, (code, reason) in enumerate(got) if code == dedup.INVALID)
    assert {c for c, _ in got} == {dedup.KEEP, dedup.DUPLICATE, dedup.ID_CONFLICT, dedup.INVALID}
    assert next(statuses) == (dedup.KEEP, None)  # past the end: endless KEEP


def test_empty_plan(tmp_path: Path) -> None:
    plan = dedup.DedupPlan(tmp_path / "work", buckets=4)
    assert list(plan.resolve()) == []
