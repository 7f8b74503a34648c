"""`datamesh operator --standalone` means what kopf's does (never peer), `--peering NAME` makes peering mandatory,
neither leaves kopf to detect its `default` peering object, and both at once are refused."""

from __future__ import annotations

import pytest

from datamesh.cli.main import build_parser
from datamesh.cli.operator_cmd import peering_options


def options(*argv: str) -> dict[str, object]:
    args = build_parser().parse_args(["operator", *argv])
    return peering_options(args.standalone, args.peering)


def test_standalone_forces_no_peering() -> None:
    assert options("--standalone") == {"standalone": True, "peering_name": None}


def test_a_peering_name_makes_peering_mandatory() -> None:
    assert options("--peering", "datamesh-operator") == {"standalone": None, "peering_name": "datamesh-operator"}


def test_without_either_kopf_detects_its_default_peering() -> None:
    assert options() == {"standalone": None, "peering_name": None}


def test_both_at_once_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["operator", "--standalone", "--peering", "x"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError):
        peering_options(True, "x")
