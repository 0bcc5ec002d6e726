"""Cyclic shifts of the choices and the mapping of probabilities back to the original order."""
from __future__ import annotations

import numpy as np


def cyclic_orders(n: int, k: int) -> list[list[int]]:
    """k orders (0-based original indices shown at each position); the first is the identity.
    k is capped at n (every distinct cyclic shift)."""
    k = max(1, min(k, n))
    shifts = [round(i * n / k) for i in range(k)]
    return [[(j + s) % n for j in range(n)] for s in shifts]


def unpermute(probs: np.ndarray, order: list[int]) -> np.ndarray:
    """``probs[j]`` belongs to original choice ``order[j]``; return probabilities in the original order."""
    out = np.zeros(len(order), dtype=np.float64)
    out[np.asarray(order)] = probs
    return out
