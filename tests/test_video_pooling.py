"""Temporal pooling, near-duplicate frame merging and spatial 2x2 pooling of visual tokens."""

from __future__ import annotations

import pytest
import torch

from vlmcli.errors import ConfigError
from vlmcli.reduction.pooling import (
    merge_similar,
    pooled_grid,
    spatial_pool,
    spatial_pool_2x2,
    temporal_groups,
    temporal_pool,
)


def tokens(t: int, n: int = 6, d: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(t, n, d, generator=torch.Generator().manual_seed(seed))


# --- temporal_pool --------------------------------------------------------------------


@pytest.mark.parametrize("t,k,out", [(8, 2, 4), (7, 2, 4), (5, 3, 2), (3, 4, 1), (4, 1, 4)])
def test_temporal_pool_shapes(t, k, out):
    x = tokens(t)
    assert temporal_pool(x, k).shape == (out, 6, 8)
    assert len(temporal_groups(t, k)) == out


def test_temporal_pool_averages_groups_and_a_shorter_tail():
    x = torch.arange(5, dtype=torch.float32).reshape(5, 1, 1).expand(5, 2, 3)  # frame i == i
    out = temporal_pool(x, 2)
    assert out[:, 0, 0].tolist() == [0.5, 2.5, 4.0]  # last group is frame 4 alone, not 4/2
    assert temporal_groups(5, 2) == ((0, 1), (2, 3), (4,))


def test_temporal_pool_identity_and_dtype():
    x = tokens(4).to(torch.bfloat16)
    assert temporal_pool(x, 1) is x
    assert temporal_pool(x, 3).dtype == torch.bfloat16


def test_temporal_pool_rejects_bad_input():
    with pytest.raises(ConfigError):
        temporal_pool(tokens(4), 0)
    with pytest.raises(ValueError):
        temporal_pool(torch.zeros(4, 5), 2)


# --- merge_similar --------------------------------------------------------------------


def test_merge_similar_merges_duplicates_only():
    a, b = tokens(1, seed=1)[0], tokens(1, seed=2)[0]
    x = torch.stack([a, a, a + 1e-4, b, b, a])  # runs: aaa, bb, a
    out, groups = merge_similar(x, 0.99)
    assert groups == ((0, 1, 2), (3, 4), (5,))
    assert out.shape == (3, 6, 8)
    torch.testing.assert_close(out[1], b)


def test_merge_similar_groups_partition_the_frames():
    x = tokens(10)
    for threshold in (-1.0, 0.0, 0.5, 1.0):
        out, groups = merge_similar(x, threshold)
        assert [i for g in groups for i in g] == list(range(10))
        assert out.shape[0] == len(groups)
    assert len(merge_similar(x, -1.0)[1]) == 1  # everything is at least -1 similar


def test_merge_similar_compares_with_the_first_frame_of_a_run():
    # a slow drift: each frame is close to the previous, but the run's start drifts away
    angle = torch.linspace(0, 1.2, 7)
    mean_dirs = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (7, 2)
    x = mean_dirs[:, None, :].expand(7, 3, 2).contiguous()  # (T=7, N=3, D=2)
    _, groups = merge_similar(x, 0.95)  # neighbours: cos(0.2) = 0.98; run start drifts
    assert len(groups) > 1


def test_merge_similar_validates_threshold():
    with pytest.raises(ConfigError):
        merge_similar(tokens(3), 1.5)


# --- spatial pooling ------------------------------------------------------------------


def test_spatial_pool_2x2_token_counts():
    x = torch.randn(576, 16)
    assert spatial_pool_2x2(x, (24, 24)).shape == (144, 16)
    assert spatial_pool_2x2(torch.randn(3, 576, 16), (24, 24)).shape == (3, 144, 16)  # per frame
    assert pooled_grid((5, 7), 2) == (3, 4)
    assert spatial_pool(torch.randn(35, 4), (5, 7), k=2).shape == (12, 4)


def test_spatial_pool_averages_real_cells_only():
    grid = torch.arange(9, dtype=torch.float32).reshape(9, 1)  # 3x3 grid, cell value = index
    out = spatial_pool_2x2(grid, (3, 3))[:, 0].tolist()
    # [[0,1,2],[3,4,5],[6,7,8]] -> (0+1+3+4)/4, (2+5)/2, (6+7)/2, 8
    assert out == [2.0, 3.5, 6.5, 8.0]


def test_spatial_pool_checks_the_grid():
    with pytest.raises(ValueError):
        spatial_pool_2x2(torch.randn(10, 4), (3, 3))
