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


def test_the_operator_does_not_load_the_other_commands_libraries() -> None:
    """The long-running operator keeps what it imports for its whole life: the build's pyarrow and numpy (the
    demo-data and build commands), the catalog's SQLAlchemy and Alembic (off by default) and the official
    `kubernetes` client (kopf logs in through ours) stay out, ~120 MB."""
    import subprocess
    import sys

    heavy = ("pyarrow", "numpy", "pandas", "pyspark", "sqlalchemy", "alembic", "kubernetes.client")
    script = (
        "import sys\n"
        "from datamesh.cli.main import build_parser, requested_command\n"
        "build_parser(requested_command(['operator', '--standalone'])).parse_args(['operator', '--standalone'])\n"
        "import datamesh.cli.operator_cmd\n"
        "datamesh.cli.operator_cmd.keep_unused_clients_out()\n"
        "import kopf, datamesh.controller.handlers\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == ""


def test_the_command_named_is_found_among_options() -> None:
    from datamesh.cli.main import requested_command

    assert requested_command(["operator", "--standalone"]) == "operator"
    assert requested_command(["--version"]) is None
    assert requested_command(["nonsense", "x"]) is None
    # Every command still parses with only its own module loaded.
    assert build_parser("validate").parse_args(["validate", "x.yaml"]).command == "validate"
