"""Cached models share their sets of given fields: the largest part of a cached DataProduct's memory.

pydantic keeps in every model instance a `set` of the fields it was given (`__pydantic_fields_set__`, what
`exclude_unset` dumps read). Such a set of six names takes 728 bytes, more than the six values. A product's status
alone holds eight of them (its conditions, its last build), so they were ~6 KB of its ~10 KB, 60 MB of the operator's
memory at 10,000 products (measured with tracemalloc, bench/README.md). Models given the same fields can share one
set, as long as nobody adds to it. The cache's models are never changed in place (a new status is a new model or a
`model_copy`), and the shared set refuses every change but re-adding a name it holds (what pydantic does when a given
field is assigned again), so a change in place that would mark a new field as given in every cached product at once
fails loudly instead. Copying it (`copy()`, `model_copy`, `deepcopy`) gives an ordinary,
private set again.

pydantic has no option for this; the set must stay a `set` (its serializer checks the type), so it is a subclass.
"""

from __future__ import annotations

import weakref
from typing import Any, NoReturn

from pydantic import BaseModel


class SharedFieldsSet(set[str]):
    """A read-only set of field names shared by every cached model that was given exactly these fields."""

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError(
            "a cached model is shared and read-only: change a copy (model_copy(update=...)), not the cached model"
        )

    def add(self, name: str) -> None:
        # pydantic adds a field's name on every assignment; one already given changes nothing, so it is allowed.
        if name not in self:
            self._refuse()

    discard = remove = pop = clear = update = _refuse
    difference_update = intersection_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (set, (list(self),))


class FieldSets:
    """The shared sets, one per distinct combination of given fields (a few dozen for the whole API). Held weakly:
    a combination goes with the last model that has it, so tenants churning products with ever new combinations of
    optional fields cannot grow the table for the operator's life."""

    def __init__(self) -> None:
        self._sets: weakref.WeakValueDictionary[frozenset[str], SharedFieldsSet] = weakref.WeakValueDictionary()

    def share(self, model: BaseModel) -> None:
        """Make `model` and every model inside it (in fields, lists, tuples and dict values) use shared sets."""
        stack: list[Any] = [model]
        while stack:
            item = stack.pop()
            if isinstance(item, BaseModel):
                given = item.__pydantic_fields_set__
                if type(given) is not SharedFieldsSet:
                    key = frozenset(given)
                    shared = self._sets.get(key)
                    if shared is None:
                        shared = self._sets[key] = SharedFieldsSet(key)
                    object.__setattr__(item, "__pydantic_fields_set__", shared)
                stack.extend(item.__dict__.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(item.values())

    def __len__(self) -> int:
        return len(self._sets)
