"""Azure secure-score arithmetic per security control.

A control's score is its maximum points × healthy resources / resources it applies to;
a resource applies to a control when at least one enabled rule of that control evaluated
it, and is healthy when none of those rules has an unsuppressed finding on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules._model import Control, ResourceVerdict
from rules._registry import get_rule


@dataclass(frozen=True)
class ControlScore:
    control: Control
    resources: int
    healthy: int

    @property
    def unhealthy(self) -> int:
        return self.resources - self.healthy

    @property
    def score(self) -> float | None:
        """Points earned, or None when no resource falls under the control."""
        if not self.resources:
            return None
        return self.control.max_score * self.healthy / self.resources


def control_scores(verdicts: Iterable[ResourceVerdict]) -> list[ControlScore]:
    state: dict[Control, dict[tuple[str, int, object], bool]] = {c: {} for c in Control}
    for v in verdicts:
        control = get_rule(v.rule_id).control
        key = (v.file, v.document, v.resource)
        state[control][key] = state[control].get(key, True) and v.healthy
    return [ControlScore(c, len(state[c]), sum(state[c].values())) for c in Control]


def total_score(scores: Iterable[ControlScore]) -> tuple[float, int]:
    """(points, maximum) over the controls that apply."""
    points, maximum = 0.0, 0
    for s in scores:
        if s.score is not None:
            points += s.score
            maximum += s.control.max_score
    return points, maximum
