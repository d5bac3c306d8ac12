import pytest

from rungwise.finetune.threads import ThreadTuner, cpu_threads


def test_cpu_threads_is_positive():
    assert cpu_threads() >= 1


def run(tuner, speed_of, steps):
    """Drive the tuner as the training loop does; returns the thread count of every step."""
    used = []
    for k in range(steps):
        n = tuner.threads_for(k)
        used.append(n)
        tuner.record(k, tokens=1000, seconds=1000 / speed_of(k, n))
    return used


def test_probes_each_candidate_once_then_keeps_the_fastest():
    tuner = ThreadTuner(2, probe_every=10)
    assert tuner.candidates == [2, 1]
    # a busy machine: one thread is five times faster than two
    used = run(tuner, lambda k, n: 150 if n == 1 else 30, 10)
    assert used == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert tuner.best == 1 and tuner.speeds == pytest.approx({2: 30, 1: 150})


def test_an_idle_machine_keeps_every_core():
    tuner = ThreadTuner(2, probe_every=10)
    used = run(tuner, lambda k, n: 100 * n, 10)
    assert used == [2, 2, 1] + [2] * 7


def test_probes_again_every_cycle_and_follows_the_load():
    tuner = ThreadTuner(4, probe_every=6)
    assert tuner.candidates == [4, 2, 1]
    # busy for the first cycle (one thread wins), idle afterwards (four threads win)
    used = run(tuner, lambda k, n: (200 / n) if k < 6 else 100 * n, 12)
    assert used[:6] == [4, 4, 2, 1, 1, 1]
    assert used[6:] == [1, 4, 2, 1, 4, 4]


def test_one_core_never_probes():
    tuner = ThreadTuner(1)
    assert run(tuner, lambda k, n: 100, 5) == [1] * 5
    with pytest.raises(ValueError):
        ThreadTuner(0)
