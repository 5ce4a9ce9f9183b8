"""DynamicBatchSampler: packing limits, task mixture formula, determinism and mid-epoch resume."""

from __future__ import annotations

import random

import pytest

from usam_toolkit.data.sampler import DynamicBatchSampler, task_probabilities


def _data(n=300, seed=0):
    rng = random.Random(seed)
    durations = [round(rng.uniform(0.5, 20.0), 2) for _ in range(n)]
    tasks = [("asr", "aac", "mc")[i % 3] if i < 240 else "s2tt" for i in range(n)]
    return durations, tasks


def _sampler(**kw):
    d, t = _data()
    args = dict(batch_seconds=60.0, max_batch_size=8, bucket_size=5, seed=7, shuffle=True)
    args.update(kw)
    return DynamicBatchSampler(d, t, **args)


def test_task_probabilities_by_hand():
    p = task_probabilities({"a": 100, "b": 10})
    assert p["a"] == pytest.approx(100 / 110)
    p = task_probabilities({"a": 100, "b": 10}, temperature=2.0)  # sqrt: 10 vs 3.1623
    assert p["a"] == pytest.approx(10 / (10 + 10**0.5))
    p = task_probabilities({"a": 100, "b": 10}, {"b": 10.0})  # w*n equal -> equal shares
    assert p == pytest.approx({"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError):
        task_probabilities({"a": 1}, temperature=0)


def test_packing_limits_and_one_pass_at_t1():
    s = _sampler()
    batches = list(s)
    for b in batches:
        assert len(b) <= 8
        longest = max(s.durations[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= 60.0
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(300))  # T=1, equal weights: every example exactly once
    assert len(s) == len(batches)


def test_temperature_upsamples_small_task():
    s = _sampler(temperature=100.0)
    counts = {}
    for b in s:
        for i in b:
            counts[s.tasks[i]] = counts.get(s.tasks[i], 0) + 1
    # four tasks, near-equal shares of 300 draws: s2tt (60 examples) is drawn ~75 times
    assert 70 <= counts["s2tt"] <= 80 and 70 <= counts["asr"] <= 80


def test_same_seed_and_epoch_same_batches():
    a, b = _sampler(), _sampler()
    assert list(a) == list(b)
    a.set_epoch(1)
    b.set_epoch(1)
    e1 = list(a)
    assert e1 == list(b)
    a.set_epoch(0)
    assert list(a) != e1
    assert list(_sampler(seed=8)) != list(_sampler())


def test_resume_mid_epoch_yields_exactly_the_rest():
    s = _sampler()
    s.set_epoch(2)
    full = list(s)
    k = 7
    s.set_epoch(2)
    it = iter(s)
    consumed = [next(it) for _ in range(k)]
    assert consumed == full[:k]
    state = s.state_dict()
    assert state == {"seed": 7, "epoch": 2, "start": k}
    fresh = _sampler()
    fresh.load_state_dict(state)
    assert len(fresh) == len(full) - k
    assert list(fresh) == full[k:]
    assert list(fresh) == full  # the start applies to one iteration only
    other = _sampler()
    other.set_epoch(2)
    other.set_start(k)
    assert list(other) == full[k:]


def test_eval_order_is_length_sorted_and_complete():
    s = _sampler(shuffle=False)
    batches = list(s)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(300))
    ds = [s.durations[i] for i in flat]
    assert ds == sorted(ds)


def test_resume_with_dataloader_workers(tmp_path):
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Ids(Dataset):
        def __len__(self):
            return 300

        def __getitem__(self, i):
            return i

    s = _sampler()
    full = [b.tolist() for b in DataLoader(Ids(), batch_sampler=s, num_workers=2)]
    s.set_start(10)
    rest = [b.tolist() for b in DataLoader(Ids(), batch_sampler=s, num_workers=2)]
    assert rest == full[10:]
    assert isinstance(torch.tensor(full[0]), torch.Tensor)
