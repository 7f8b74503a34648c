"""Status conditions in the metav1.Condition shape, and the Ready summary.

As in cert-manager's SetCertificateCondition: writing a condition keeps its lastTransitionTime unless its
status flips, so `kubectl wait` and dashboards see real transitions, not every reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from datamesh.api.common import Condition, ConditionStatus
from datamesh.api.reasons import CATALOG_SYNCED, PRODUCT_SUMMARY_OF, READY


@dataclass(frozen=True)
class Desired:
    """A condition as the reconciler wants it, before timestamps."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def merge(
    existing: Iterable[Condition], desired: Iterable[Desired], *, generation: int | None, now: datetime
) -> list[Condition]:
    """The new condition list: desired ones replace same-type ones, untouched types are kept."""
    by_type = {c.type: c for c in existing}
    for want in desired:
        old = by_type.get(want.type)
        transition = old.last_transition_time if old is not None and old.status == want.status else now
        by_type[want.type] = Condition(
            type=want.type,
            status=want.status,
            reason=want.reason,
            message=want.message[:32768],
            observed_generation=generation,
            last_transition_time=transition,
        )
    return sorted(by_type.values(), key=_order)


def _order(condition: Condition) -> tuple[int, str]:
    order = (READY, *PRODUCT_SUMMARY_OF, CATALOG_SYNCED)
    return (order.index(condition.type) if condition.type in order else len(order), condition.type)


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def summarize(desired: Iterable[Desired], *, ready_reason: str = "Ready", ready_message: str = "") -> Desired:
    """Ready is True when every summarized condition is True; otherwise the first one that is not
    gives its reason and message (so `kubectl get` shows the cause, not just False)."""
    for condition in desired:
        if condition.status != "True":
            status: ConditionStatus = "False" if condition.status == "False" else "Unknown"
            return Desired(READY, status, condition.reason, condition.message)
    return Desired(READY, "True", ready_reason, ready_message)
