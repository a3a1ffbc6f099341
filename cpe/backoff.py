"""Bounded exponential backoff with full jitter, shared by the gateways and the daemon loops."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of ``base * 2**n`` capped at ``cap``, each drawn uniformly from [delay/2, delay].

    Half-jitter rather than full jitter keeps a floor under the delay, so a daemon whose
    endpoint is down never spins even when the draw is unlucky.
    """

    base: float = 0.2
    cap: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 32)
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
