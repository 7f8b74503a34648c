"""kopf's diff base ("essence"), built only for the kinds that have change handlers.

For every event of every watched object, kopf builds the object's essence, the input of its change handlers
(on.create/update/delete, daemons): a deep copy of the whole body, status included, from which it then deletes
the status. It does so even for kinds that only have event handlers, which never read it. The operator watches
DataProducts, their build Jobs, GovernancePolicies and a CRD through event handlers only; the one change handler
is the Domain's deletion. At a restart under 3,000 published products (and their Jobs), these copies were 40 % of
the operator's CPU (pyinstrument: 30 of 74 CPU-s), and every product's event waited behind them.

This storage is kopf's own annotations storage, unchanged for the kinds listed in `CHANGE_HANDLED`; for any
other kind it neither builds nor reads an essence (None), which kopf treats as "nothing to diff". A test
compares the list with kopf's registry, so adding a change handler without listing its kind fails there, not in
production.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, cast

import kopf

from datamesh.api.common import GROUP

#: (API group, kind) of every resource with a kopf change or daemon handler (controller/handlers.py).
CHANGE_HANDLED: frozenset[tuple[str, str]] = frozenset({(GROUP, "Domain")})


def group_kind(body: kopf.Body | dict[str, Any]) -> tuple[str, str]:
    api_version = str(body.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]  # "" for the core group ("v1")
    return group, str(body.get("kind") or "")


class EssenceWhereHandled(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotations diff base for `kinds`; no essence (None) for the others."""

    def __init__(self, *, kinds: Collection[tuple[str, str]] = CHANGE_HANDLED, **options: Any) -> None:
        super().__init__(**options)
        self.kinds = frozenset(kinds)

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        if group_kind(body) not in self.kinds:
            # kopf's own code checks for None before using a built essence (processing._detect_causes).
            return cast(kopf.BodyEssence, None)
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        # Nothing is stored where nothing is built; reading the annotations for it cost ~0.4 ms an event.
        if group_kind(body) not in self.kinds:
            return None
        return super().fetch(body=body)
