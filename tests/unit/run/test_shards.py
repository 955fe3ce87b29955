"""Shards of the sample and judge stages: parsing `--shard`, cutting the prompts, merging the rows back."""

from __future__ import annotations

import pytest

from dno.errors import DnoError
from dno.run import shards


def test_parse_shard():
    assert shards.parse_shard("1/4") == (1, 4) and shards.parse_shard(None) is None
    for bad in ("4/4", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(DnoError, match="--shard"):
            shards.parse_shard(bad)


@pytest.mark.parametrize("num,n,align", [(16, 3, 8), (16, 4, 4), (10, 3, 4), (7, 8, 2), (0, 2, 4), (100, 7, 1)])
def test_shard_ranges_cover_everything_once_cut_at_batch_boundaries(num, n, align):
    ranges = [shards.shard_range(num, i, n, align) for i in range(n)]
    assert ranges[0][0] == 0 and ranges[-1][1] == num
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), "contiguous, no gap, no overlap"
    assert all(lo % align == 0 for lo, hi in ranges if hi > lo), "every shard starts on a batch boundary"
    sizes = [hi - lo for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= align


def test_merge_rows_orders_by_prompt_and_refuses_gaps_and_duplicates():
    ids = ["a", "b", "c", "d"]
    rows = shards.merge_rows(ids, [[{"id": "c"}, {"id": "d"}], [{"id": "a"}, {"id": "b"}]], "x")
    assert [r["id"] for r in rows] == ids
    with pytest.raises(DnoError, match="missing"):
        shards.merge_rows(ids, [[{"id": "a"}], [{"id": "b"}, {"id": "c"}]], "x")
    with pytest.raises(DnoError, match="more than one shard"):
        shards.merge_rows(ids, [[{"id": "a"}, {"id": "b"}], [{"id": "b"}, {"id": "c"}, {"id": "d"}]], "x")


def test_merge_usage_adds_counts():
    u = shards.merge_usage(
        [
            {"requests_sent": 3, "seconds": 5.0, "judge": "api:m", "cost_usd": None},
            {"requests_sent": 4, "seconds": 7.0, "judge": "api:m", "cost_usd": 0.5},
        ]
    )
    assert u == {"requests_sent": 7, "seconds": 7.0, "judge": "api:m", "cost_usd": 0.5, "shards": 2}
