"""How sure the model is of a suggestion, and whether that is sure enough to show it.

A suggestion's confidence comes from the model's own probabilities of the tokens it
wrote (after the healed text): their mean and minimum log-probability and the first
token's. A logistic model fitted on held-out typing sessions turns them into the
probability that the user types the suggestion's first line next; a suggestion is
shown only above a threshold chosen on those sessions for precision. Both live beside
the model in ``completion_calibration.json`` (``bench/calibrate_completion.py`` writes
it); a model without one is not gated. The ``completion.minConfidence`` setting
overrides the threshold for automatic suggestions (0 shows everything); an explicit
invoke uses the lower of that and the calibrated invoked threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

CALIBRATION = "completion_calibration.json"


@dataclass(frozen=True)
class Confidence:
    """What the model's token probabilities say about one suggestion."""

    mean: float  # mean log-probability per token
    minimum: float  # the least likely token's log-probability
    first: float  # the first visible token's log-probability
    tokens: int

    @classmethod
    def of(cls, logprobs: Sequence[float]) -> Confidence | None:
        if not logprobs:
            return None  # the engine gave no probabilities (a remote server)
        return cls(sum(logprobs) / len(logprobs), min(logprobs), logprobs[0], len(logprobs))

    def features(self) -> tuple[float, float, float]:
        return (self.mean, self.minimum, self.first)


@dataclass(frozen=True)
class Gate:
    weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    bias: float = 0.0
    automatic: float = 0.0  # threshold on the acceptance probability; 0 = show all
    invoked: float = 0.0

    def probability(self, confidence: Confidence) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, confidence.features(), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def threshold(self, explicit: bool, override: float = -1.0) -> float:
        automatic = self.automatic if override < 0 else override
        return min(automatic, self.invoked) if explicit else automatic

    def allows(self, confidence: Confidence | None, explicit: bool, override: float = -1.0) -> bool:
        limit = self.threshold(explicit, override)
        if confidence is None or limit <= 0:
            return True
        return self.probability(confidence) >= limit

    @classmethod
    def load(cls, model_dir: str | Path | None) -> Gate:
        path = Path(model_dir) / CALIBRATION if model_dir else None
        if path is None or not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(data["weights"]), data["bias"], data["automatic"], data["invoked"])

    def save(self, model_dir: str | Path, extra: dict) -> Path:
        path = Path(model_dir) / CALIBRATION
        path.write_text(json.dumps({**asdict(self), **extra}, indent=2) + "\n", encoding="utf-8")
        return path


def fit(rows: Sequence[tuple[tuple[float, float, float], bool]], steps: int = 3000) -> Gate:
    """Logistic regression of acceptance on the confidence features (plain gradient
    descent on standardised features; a few thousand rows at most)."""
    if not rows:
        return Gate()
    n = len(rows)
    cols = list(zip(*(f for f, _ in rows), strict=True))
    mu = [sum(c) / n for c in cols]
    sd = [
        max(1e-6, math.sqrt(sum((x - m) ** 2 for x in c) / n))
        for c, m in zip(cols, mu, strict=True)
    ]
    xs = [[(x - m) / s for x, m, s in zip(f, mu, sd, strict=True)] for f, _ in rows]
    ys = [1.0 if y else 0.0 for _, y in rows]
    w, b, rate = [0.0, 0.0, 0.0], 0.0, 0.5
    for _ in range(steps):
        gw, gb = [0.0, 0.0, 0.0], 0.0
        for x, y in zip(xs, ys, strict=True):
            z = b + sum(wi * xi for wi, xi in zip(w, x, strict=True))
            p = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
            gb += p - y
            for i in range(3):
                gw[i] += (p - y) * x[i]
        b -= rate * gb / n
        w = [wi - rate * (g / n + 1e-3 * wi) for wi, g in zip(w, gw, strict=True)]
    # Back to the raw features: w_raw = w / sd, b_raw = b - sum(w * mu / sd).
    weights = tuple(wi / s for wi, s in zip(w, sd, strict=True))
    bias = b - sum(wi * m / s for wi, m, s in zip(w, mu, sd, strict=True))
    return Gate(weights, bias)  # type: ignore[arg-type]


def choose_threshold(
    scored: Sequence[tuple[float, bool]], precision: float, floor: float = 0.0
) -> float:
    """The lowest threshold whose shown suggestions reach ``precision`` (so as many as
    possible are still shown); the highest-precision one when none reaches it."""
    ranked = sorted(scored, key=lambda t: -t[0])
    best, best_precision, hits = 1.0, -1.0, 0
    chosen = None
    for k, (p, ok) in enumerate(ranked, start=1):
        hits += ok
        if k >= 5 and hits / k >= precision:
            chosen = p
        if k >= 5 and hits / k > best_precision:
            best, best_precision = p, hits / k
    return max(floor, chosen if chosen is not None else best)
