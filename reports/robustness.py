"""How sure is the winner? Weight vectors drawn around the configured ones (Dirichlet,
alpha = concentration x weights) give each pattern's probability of ranking first; and
for each criterion, the smallest change of its weight (the others rescaled) that hands
the first place to another pattern."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Decision
from .matrix import Matrix, weighted

MULTIPLIERS = np.concatenate([np.linspace(0, 1, 21)[:-1], np.linspace(1, 10, 91)])


@dataclass
class Robustness:
    probability_first: pd.Series  # pattern -> share of sampled weights that rank it first
    flips: pd.DataFrame  # criterion, multiplier, new winner (only criteria that can flip it)


def _reweight(weights: pd.Series, key: str, factor: float) -> pd.Series:
    changed = weights.copy()
    changed[key] *= factor
    return changed / changed.sum()


def probability_first(matrix: Matrix, decision: Decision) -> pd.Series:
    """Each pattern's share of the sampled weight vectors that rank it first."""
    rng = np.random.default_rng(decision.seed)
    weights = matrix.weights
    alpha = np.maximum(weights.to_numpy() * decision.concentration, 1e-3)
    samples = rng.dirichlet(alpha, decision.samples)
    scores = matrix.scores[weights.index].to_numpy(dtype=float)
    firsts = np.argmax(samples @ scores.T, axis=1)
    patterns = matrix.scores.index
    counts = np.bincount(firsts, minlength=len(patterns))
    return pd.Series(counts / counts.sum(), index=patterns).sort_values(ascending=False)


def analyse(matrix: Matrix, decision: Decision) -> Robustness:
    weights = matrix.weights
    probability = probability_first(matrix, decision)
    flips = []
    for key in weights.index:
        # The nearest multiplier (on a log scale) that changes the winner, if any.
        candidates = []
        for factor in MULTIPLIERS:
            winner = weighted(matrix.scores, _reweight(weights, key, factor)).index[0]
            if winner != matrix.winner:
                candidates.append((abs(np.log(max(factor, 1e-3))), factor, winner))
        if candidates:
            _, factor, winner = min(candidates)
            flips.append({"criterion": key, "weight_multiplier": round(float(factor), 2), "new_winner": winner})
    return Robustness(probability, pd.DataFrame(flips, columns=["criterion", "weight_multiplier", "new_winner"]))
