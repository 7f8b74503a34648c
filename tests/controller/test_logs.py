"""The operator's log: one JSON object a line, and kopf's per-event success line of the event handlers left out
(controller/logs.py), while their failures and every other handler's lines stay."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import kopf
import pytest

from datamesh.controller import handlers, logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root, kopf_objects = logging.getLogger(), logging.getLogger("kopf.objects")
    saved = (root.handlers[:], root.level, kopf_objects.filters[:])
    stream = io.StringIO()
    try:
        yield stream
    finally:
        root.handlers[:], kopf_objects.filters[:] = saved[0], saved[2]
        root.setLevel(saved[1])


def configure(stream: io.StringIO, *, verbose: bool = False) -> None:
    logs.configure("json", verbose, quiet_handlers=handlers.EVENT_HANDLERS)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_event_handlers_success_is_not_logged_but_their_failures_and_other_handlers_are(
    captured: io.StringIO,
) -> None:
    configure(captured)
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_objects.info("Handler 'product_event' succeeded.")
    kopf_objects.info("Handler 'job_event' succeeded.")
    kopf_objects.info("Handler 'domain_deleted' succeeded.")
    kopf_objects.error("Handler 'product_event' failed with an exception. Will ignore.")
    kopf_objects.info("Handler 'product_event' succeeded, and something else.")
    messages = [line["message"] for line in lines(captured)]
    assert messages == [
        "Handler 'domain_deleted' succeeded.",
        "Handler 'product_event' failed with an exception. Will ignore.",
        "Handler 'product_event' succeeded, and something else.",
    ]


def test_the_quiet_handlers_are_exactly_kopfs_event_handlers() -> None:
    registered = {handler.id for handler in kopf.get_default_registry()._watching.get_all_handlers()}
    assert registered == set(handlers.EVENT_HANDLERS)


def test_verbose_logs_every_handler(captured: io.StringIO) -> None:
    configure(captured, verbose=True)
    logging.getLogger("kopf.objects").info("Handler 'product_event' succeeded.")
    assert [line["message"] for line in lines(captured)] == ["Handler 'product_event' succeeded."]
    assert lines(captured)[0]["level"] == "info" and lines(captured)[0]["logger"] == "kopf.objects"
