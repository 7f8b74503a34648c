"""Pure parts of the metadata-only publish, no Spark: Delta statistics from parquet footers, the nullable table
schema, when the commit path applies, run folders, the Arrow uniqueness settings and the lineage switch."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.build import commit, quality
from datamesh.build.publish import staging_path
from datamesh.build.runner import LINEAGE_ENVS

FIELDS = [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "long_text", "type": "string"},
    {"name": "amount", "type": "decimal(30,5)"},
    {"name": "day", "type": "date"},
    {"name": "at", "type": "timestamp"},
    {"name": "score", "type": "double"},
    {"name": "flag", "type": "boolean"},
    {"name": "empty", "type": "string"},
    {"name": "nested", "type": {"type": "struct", "fields": [{"name": "a", "type": "long", "nullable": True}]}},
]


def _parquet(tmp_path: Path) -> pq.FileMetaData:
    table = pa.table(
        {
            "id": pa.array([3, 1, None, 7], pa.int64()),
            "name": ["b", "a", "c", None],
            "long_text": ["x" * 40 + "1", "x" * 40 + "2", "y" * 40, "a" * 33],
            "amount": pa.array(
                [Decimal("12345678901234567890.12345"), Decimal("-0.00001"), None, Decimal("1")], pa.decimal128(30, 5)
            ),
            "day": [date(2024, 2, 29), date(2023, 1, 1), None, date(2024, 3, 1)],
            "at": pa.array(
                [
                    datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
                    datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
                    datetime(2023, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "score": [1.5, float("nan"), None, -2.0],
            "flag": [True, None, False, True],
            "empty": pa.array([None, None, None, None], pa.string()),
            "nested": [{"a": 1}, None, {"a": 2}, {"a": None}],
        }
    )
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path, row_group_size=2)  # two row groups: bounds must be merged across them
    return pq.read_metadata(path)


def test_statistics_are_certain_bounds_in_deltas_format(tmp_path: Path) -> None:
    stats = json.loads(commit.file_stats(_parquet(tmp_path), FIELDS), parse_float=Decimal)
    assert stats["numRecords"] == 4
    assert stats["minValues"] == {
        "id": 1,
        "name": "a",
        "long_text": "a" * 32,  # a 32-character prefix is still a lower bound
        "amount": Decimal("-0.00001"),
        "day": "2023-01-01",
        "at": "2023-12-31T23:59:59.001Z",
    }
    assert stats["maxValues"] == {
        "id": 7,
        "name": "c",  # long_text: no certain upper bound within 32 characters, so none
        "amount": Decimal("12345678901234567890.12345"),  # exact, not rounded through a float
        "day": "2024-03-01",
        "at": "2024-01-01T00:00:01.000Z",  # .999999 rounded UP to whole milliseconds
    }
    # Floats (NaN), booleans and nested columns get no bounds, only null counts where the footer has them.
    assert stats["nullCount"] == {
        "id": 1,
        "name": 1,
        "long_text": 0,
        "amount": 1,
        "day": 1,
        "at": 1,
        "score": 1,
        "flag": 1,
        "empty": 4,
    }
    text = commit.file_stats(_parquet(tmp_path), FIELDS)
    assert '"amount":12345678901234567890.12345' in text


def test_timestamp_bounds_round_outwards() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC)
    assert commit._timestamp(moment, round_up=False) == "2024-05-01T12:00:00.000Z"
    assert commit._timestamp(moment, round_up=True) == "2024-05-01T12:00:00.001Z"
    assert commit._timestamp(moment.replace(microsecond=5000), round_up=True) == "2024-05-01T12:00:00.005Z"
    assert commit._timestamp(datetime(2024, 5, 1), round_up=True) is None  # not UTC-adjusted: no bound


def test_table_schema_is_nullable_all_the_way_down() -> None:
    schema = {
        "type": "struct",
        "fields": [
            {"name": "a", "type": "long", "nullable": False, "metadata": {"comment": "kept"}},
            {
                "name": "b",
                "type": {
                    "type": "map",
                    "keyType": "string",
                    "valueType": {"type": "array", "elementType": "long", "containsNull": False},
                    "valueContainsNull": False,
                },
                "nullable": False,
                "metadata": {},
            },
        ],
    }
    loose = json.loads(commit.nullable_schema(json.dumps(schema)))
    assert [f["nullable"] for f in loose["fields"]] == [True, True]
    assert loose["fields"][0]["metadata"] == {"comment": "kept"}
    value = loose["fields"][1]["type"]
    assert value["valueContainsNull"] is True and value["valueType"]["containsNull"] is True


def _schema(*fields: tuple[str, object]) -> str:
    return json.dumps({"type": "struct", "fields": [{"name": n, "type": t, "nullable": True} for n, t in fields]})


def test_which_builds_commit_their_files_and_which_use_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(commit.PUBLISH_METHOD_ENV, raising=False)
    plain = _schema(("id", "string"), ("amount", "decimal(18,2)"), ("tags", {"type": "array", "elementType": "long"}))
    assert commit.eligibility("/lake/sales/gold/x", plain) is None
    assert commit.eligibility("file:///lake/sales/gold/x", plain) is None
    assert "not a local path" in str(commit.eligibility("s3a://bucket/gold/x", plain))
    assert "at" in str(commit.eligibility("/lake/x", _schema(("id", "string"), ("at", "timestamp_ntz"))))
    assert "my col" in str(commit.eligibility("/lake/x", _schema(("my col", "string"))))
    monkeypatch.setenv(commit.PUBLISH_METHOD_ENV, "copy")
    assert commit.eligibility("/lake/x", plain) == "DATAMESH_PUBLISH_METHOD=copy"


def test_run_folders_are_new_for_every_build_and_safe_in_a_log_path() -> None:
    first, second = staging_path("/lake/t/", "20260101T000000Z-abc"), staging_path("/lake/t", "20260101T000000Z-abc")
    assert first != second
    assert first.startswith("/lake/t/run-20260101T000000Z-abc-")
    assert staging_path("/lake/t", "a b/c%").startswith("/lake/t/run-a-b-c--")


def test_staged_files_are_the_parquet_files_only(tmp_path: Path) -> None:
    for name in ("part-0.parquet", ".part-0.parquet.crc", "_SUCCESS", "part-1.parquet"):
        (tmp_path / name).write_text("")
    assert [Path(p).name for p in commit.staged_files(str(tmp_path))] == ["part-0.parquet", "part-1.parquet"]
    assert commit.staged_files(str(tmp_path / "missing")) == []


def test_arrow_uniqueness_settings() -> None:
    assert quality.arrow_max_rows({}) == quality.DEFAULT_ARROW_MAX_ROWS
    assert quality.arrow_max_rows({quality.ARROW_MAX_ROWS_ENV: "5_000_000"}) == 5_000_000
    assert quality.arrow_max_rows({quality.ARROW_MAX_ROWS_ENV: "0"}) == 0
    with pytest.raises(ValueError, match="is not a number of rows"):
        quality.arrow_max_rows({quality.ARROW_MAX_ROWS_ENV: "many"})
    dtypes = [("Customer_ID", "string"), ("score", "double"), ("amount", "decimal(18,2)"), ("c", "string collate X")]
    assert quality.arrow_key_columns(["customer_id", "amount"], dtypes) == ["Customer_ID", "amount"]
    assert quality.arrow_key_columns(["score"], dtypes) is None  # Spark folds -0.0/NaN: grouped by Spark
    assert quality.arrow_key_columns(["c"], dtypes) is None
    assert quality.arrow_key_columns(["missing"], dtypes) is None


def test_lineage_switch_names_the_catalogs_transports() -> None:
    from datamesh.catalog import lineage

    assert set(LINEAGE_ENVS) == {lineage.URL_ENV, lineage.FILE_ENV}
