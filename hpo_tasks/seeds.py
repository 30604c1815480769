"""Every seed the project derives, one named stream each.

Each is ``numpy.random.SeedSequence(tags).generate_state(1)[0]``: stable across processes and platforms,
and streams with different tags are independent. The tags are part of the record (same sweep seed, same
suggestions, same training seeds), so a stream's tags never change.

    sampler_seed     [seed, n_asked]          a stateful Optuna sampler's seed for the next asks
    trial_seed       [seed, number, 1]        the seed a search trial trains with
    replicate_seed   [seed, number, repeat, 2] the seed of a replicate's repeat
    gp_trial_seed    [seed, number]           the GP sampler's per-trial draws (hpo_tasks.gp.sampler)
"""

from __future__ import annotations

import numpy as np

_INT31 = 2**31 - 1  # training seeds fit every library's int32 seed


def _draw(*tags: int) -> int:
    return int(np.random.SeedSequence(list(tags)).generate_state(1)[0])


def sampler_seed(seed: int, n_asked: int) -> int:
    """A stateful Optuna sampler's seed, varied with the trials asked so far (each round builds a fresh
    sampler; a fixed seed would repeat the previous round's draws)."""
    return _draw(seed, n_asked)


def trial_seed(seed: int, number: int) -> int:
    """The seed search trial ``number`` trains with."""
    return _draw(seed, number, 1) % _INT31


def replicate_seed(seed: int, number: int, repeat: int) -> int:
    """A new training seed for repeat ``repeat`` (1, 2, ...) of trial ``number``."""
    return _draw(seed, number, repeat, 2) % _INT31


def gp_trial_seed(seed: int, number: int) -> int:
    """The GP sampler's seed for trial ``number`` (today's ``hpo_tasks.gp.sampler._mix``)."""
    return _draw(seed, number)
