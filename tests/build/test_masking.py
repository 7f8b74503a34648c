"""Real Spark: PII masking is a keyed hash (HMAC-SHA256, hex) no dictionary reverses, and secret reader options
reach Spark from the environment."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.build.errors import BuildError
from datamesh.build.inputs import register
from datamesh.build.secrets import REDACTED, mask_function
from datamesh.mesh.contract import MASKING_KEY_ENV, ResolvedInput, SecretOptionRef

pytestmark = pytest.mark.spark

KEY = bytes(range(32))
EMAILS = ["ana@example.com", "zoë@exämple.org", "", None, "李@例子.中国"]


def expected(value: str | None, key: bytes = KEY) -> str | None:
    return None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tables holding the same e-mail addresses: a consumer must be able to join them once masked."""
    root = tmp_path_factory.mktemp("masking")
    for name, ids in (("crm", [1, 2, 3, 4, 5]), ("web", [10, 20, 30, 40, 50])):
        (root / name).mkdir()
        table = pa.table({"id": pa.array(ids, pa.int64()), "email": pa.array(EMAILS, pa.string())})
        pq.write_table(table, root / name / "part-0.parquet")
    return root / "crm", root / "web"


def _masked(location: Path, view: str) -> ResolvedInput:
    return ResolvedInput(view=view, kind="source", ref=f"bronze.{view}", domain="sales", location=str(location),
                         format="parquet", pii_columns=["email"], pii="mask")  # fmt: skip


def _env(key: bytes = KEY, **extra: str) -> dict[str, str]:
    return {MASKING_KEY_ENV: key.hex(), **extra}


def test_masked_values_are_hmac_sha256_of_the_text(spark: Any, people: tuple[Path, Path]) -> None:
    frame = register(spark, [_masked(people[0], "crm")], _env()).frames["crm"]
    rows = {r["id"]: r["email"] for r in frame.collect()}
    assert [rows[i] for i in (1, 2, 3, 4, 5)] == [expected(e) for e in EMAILS]
    assert rows[4] is None  # null stays null
    assert rows[3] == expected("") != hashlib.sha256(b"").hexdigest()  # keyed: not the plain digest
    # The plan names the function, never the key: analysis errors print it into a product's status.
    plan = frame._jdf.queryExecution().toString()
    assert "datamesh_mask" in plan and KEY.hex() not in plan


def test_the_same_value_masks_alike_across_inputs(spark: Any, people: tuple[Path, Path]) -> None:
    register(spark, [_masked(people[0], "crm"), _masked(people[1], "web")], _env())
    joined = spark.sql("SELECT c.id AS c, w.id AS w FROM crm c JOIN web w ON c.email = w.email").collect()
    assert sorted((r["c"], r["w"]) for r in joined) == [(1, 10), (2, 20), (3, 30), (5, 50)]


def test_another_key_gives_other_values(spark: Any, people: tuple[Path, Path]) -> None:
    other = bytes(32)
    frame = register(spark, [_masked(people[0], "crm")], _env(other)).frames["crm"]
    values = {r["id"]: r["email"] for r in frame.collect()}
    assert values[1] == expected(EMAILS[0], other) != expected(EMAILS[0])


@pytest.mark.parametrize("environ", [{}, {MASKING_KEY_ENV: "not hex"}, {MASKING_KEY_ENV: "abcd"}])
def test_masking_without_a_key_fails(spark: Any, people: tuple[Path, Path], environ: dict[str, str]) -> None:
    with pytest.raises(BuildError) as info:
        register(spark, [_masked(people[0], "crm")], environ)
    assert info.value.reason == "MaskingKeyMissing"


def test_exclude_and_clear_need_no_key(spark: Any, people: tuple[Path, Path]) -> None:
    excluded = _masked(people[0], "crm").model_copy(update={"pii": "exclude"})
    assert register(spark, [excluded], {}).frames["crm"].columns == ["id"]
    clear = _masked(people[0], "crm").model_copy(update={"pii": "clear"})
    assert sorted(r["email"] or "" for r in register(spark, [clear], {}).frames["crm"].collect()) == sorted(
        e or "" for e in EMAILS
    )


def test_the_udf_matches_the_python_reference() -> None:
    mask = mask_function(KEY)
    assert [mask(e) for e in EMAILS] == [expected(e) for e in EMAILS]


# ---------------------------------------------------------------------------------------------- secret options
@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tickets")
    (folder / "part-0.csv").write_text("ticket_id,score\nt1,5\nt2,3\n", encoding="utf-8")
    return folder


def _csv(location: Path, env: str = "DATAMESH_SECRET_0_0", option: str = "header") -> ResolvedInput:
    ref = SecretOptionRef(option=option, env=env, secret="csv-settings", key=option)
    return ResolvedInput(view="tickets", kind="source", ref="bronze.tickets", domain="sales", location=str(location),
                         format="csv", secret_options=[ref])  # fmt: skip


def test_secret_options_reach_the_reader_from_the_environment(spark: Any, tickets: Path) -> None:
    with_header = register(spark, [_csv(tickets)], {"DATAMESH_SECRET_0_0": "true"}).frames["tickets"]
    assert with_header.columns == ["ticket_id", "score"] and with_header.count() == 2
    without = register(spark, [_csv(tickets)], {"DATAMESH_SECRET_0_0": "false"}).frames["tickets"]
    assert without.columns == ["_c0", "_c1"] and without.count() == 3


def test_a_missing_secret_option_names_the_secret_not_a_value(spark: Any, tickets: Path) -> None:
    with pytest.raises(BuildError) as info:
        register(spark, [_csv(tickets)], {})
    assert info.value.reason == "CredentialsUnavailable"
    assert "csv-settings" in info.value.message and "header" in info.value.message


def test_an_error_echoing_a_secret_value_is_redacted(spark: Any, tickets: Path) -> None:
    secret = "s3cr3t-encoding-value"
    with pytest.raises(BuildError) as info:
        register(spark, [_csv(tickets, option="encoding")], {"DATAMESH_SECRET_0_0": secret})
    assert secret not in info.value.message
    assert REDACTED in info.value.message, info.value.message
