"""usam_toolkit.masks: length masks and masked reductions, against values worked out by hand."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from usam_toolkit.masks import (
    lengths_to_mask,
    masked_mean,
    masked_sum,
    padding_mask,
    valid_count,
    zero_padding,
)

T_, F_ = True, False


def test_lengths_to_mask_by_hand() -> None:
    m = lengths_to_mask(torch.tensor([2, 0, 4]), 3)
    assert m.dtype == torch.bool
    # a length past max_len makes the whole row valid; a length of 0 none of it
    assert m.tolist() == [[T_, T_, F_], [F_, F_, F_], [T_, T_, T_]]


def test_lengths_to_mask_width_defaults_to_the_longest() -> None:
    assert lengths_to_mask(torch.tensor([1, 3])).tolist() == [[T_, F_, F_], [T_, T_, T_]]
    assert lengths_to_mask(torch.zeros(0, dtype=torch.long)).shape == (0, 0)


def test_lengths_to_mask_any_integer_dtype_and_float_truncates() -> None:
    want = [[T_, T_, F_, F_], [T_, T_, T_, F_]]
    for dtype in (torch.int32, torch.int64, torch.uint8):
        assert lengths_to_mask(torch.tensor([2, 3], dtype=dtype), 4).tolist() == want
    # floating lengths count like .long(): 2.9 -> 2
    assert lengths_to_mask(torch.tensor([2.9, 3.0]), 4).tolist() == want


def test_padding_mask_is_the_complement() -> None:
    assert padding_mask(torch.tensor([1, 3]), 3).tolist() == [[F_, T_, T_], [F_, F_, F_]]


def _x() -> torch.Tensor:
    # [B=2, T=3, D=2]; padding holds NaN and inf, which must never reach a result
    nan, inf = float("nan"), float("inf")
    return torch.tensor(
        [
            [[1.0, 2.0], [3.0, 4.0], [nan, inf]],
            [[5.0, -6.0], [inf, nan], [nan, nan]],
        ]
    )


def test_zero_padding_by_hand() -> None:
    out = zero_padding(_x(), torch.tensor([2, 1]))
    assert out.tolist() == [[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]], [[5.0, -6.0], [0.0, 0.0], [0.0, 0.0]]]


def test_masked_sum_and_mean_by_hand() -> None:
    lengths = torch.tensor([2, 1])
    assert masked_sum(_x(), lengths).tolist() == [[4.0, 6.0], [5.0, -6.0]]
    assert masked_mean(_x(), lengths).tolist() == [[2.0, 3.0], [5.0, -6.0]]
    assert valid_count(_x(), lengths).tolist() == [[2], [1]]


def test_masked_mean_of_an_empty_sample_is_zero() -> None:
    out = masked_mean(_x(), torch.tensor([0, 1]))
    assert out.tolist() == [[0.0, 0.0], [5.0, -6.0]]


def test_a_bool_mask_works_like_lengths() -> None:
    lengths = torch.tensor([2, 1])
    mask = lengths_to_mask(lengths, 3)
    assert torch.equal(masked_mean(_x(), mask), masked_mean(_x(), lengths))
    # a mask that is not a prefix: positions 0 and 2 of sample 0
    holes = torch.tensor([[T_, F_, T_], [T_, F_, F_]])
    y = torch.tensor([[[1.0], [100.0], [3.0]], [[4.0], [5.0], [6.0]]])
    assert masked_mean(y, holes).tolist() == [[2.0], [4.0]]


def test_other_time_axes_and_keepdim() -> None:
    # [B, C, T] with time last (instance-norm statistics)
    x = torch.tensor([[[1.0, 3.0, 100.0], [2.0, 4.0, 100.0]]])
    mean = masked_mean(x, torch.tensor([2]), dim=-1, keepdim=True)
    assert mean.shape == (1, 2, 1) and mean.flatten().tolist() == [2.0, 3.0]
    # [B, N] waveforms, time on axis 1
    audio = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 9.0, 9.0, 9.0]])
    assert masked_mean(audio, torch.tensor([3, 1]), keepdim=True).tolist() == [[2.0], [4.0]]
    assert masked_sum(audio, torch.tensor([3, 1])).tolist() == [6.0, 4.0]


def test_low_precision_mean_divides_by_the_rounded_count() -> None:
    # 257 ones in bfloat16: the sum (257) and the count (257) both round to 256, so the mean is exactly 1
    x = torch.ones(1, 257, 1, dtype=torch.bfloat16)
    out = masked_mean(x, torch.tensor([257]))
    assert out.dtype == torch.bfloat16 and out.item() == 1.0


def test_wrong_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        masked_mean(_x(), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        masked_mean(_x(), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="axis 0"):
        masked_mean(_x(), torch.tensor([1, 1]), dim=0)


def test_interfaces_name_is_the_same_helper() -> None:
    from usam_toolkit.interfaces import lengths_to_mask as from_contract

    lengths = torch.tensor([3, 0, 1])
    assert torch.equal(from_contract(lengths, 4), lengths_to_mask(lengths, 4))
    assert torch.equal(from_contract(lengths), lengths_to_mask(lengths))
