"""Domain source reader options: parsing options are accepted, anything that changes what is read is refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from datamesh.api.domain import Source


def source(fmt: str, options: dict[str, str] | None = None, secret: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "raw.x", "location": "/lake/d/bronze/x", "format": fmt}
    if options is not None:
        body["options"] = options
    if secret is not None:
        body["secretOptions"] = [{"option": o, "secretKeyRef": {"name": "creds", "key": "k"}} for o in secret]
    return body


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("csv", {"header": "true", "sep": ";", "multiLine": "true", "nullValue": "NA"}),
        ("json", {"multiLine": "true", "allowComments": "true", "mode": "PERMISSIVE"}),
        ("parquet", {"mergeSchema": "true", "pathGlobFilter": "*.parquet"}),
        ("parquet", {"fs.s3a.endpoint": "http://minio:9000", "fs.s3a.path.style.access": "true"}),
        ("csv", {"HEADER": "true"}),
    ],
)
def test_parsing_options_are_accepted(fmt: str, options: dict[str, str]) -> None:
    assert Source.model_validate(source(fmt, options)).options == options


@pytest.mark.parametrize(
    ("fmt", "options", "named"),
    [
        ("parquet", {"path": "/lake/other/gold/victim"}, "path"),
        ("csv", {"paths": '["/lake/other/gold"]'}, "paths"),
        ("parquet", {"basePath": "/lake/other"}, "basePath"),
        ("delta", {"versionAsOf": "0"}, "versionAsOf"),
        ("delta", {"timestampAsOf": "2020-01-01"}, "timestampAsOf"),
        ("parquet", {"fs.file.impl": "org.example.Evil"}, "fs.file.impl"),
        ("json", {"fs.s3a.impl": "org.example.Evil"}, "fs.s3a.impl"),
        ("csv", {"fs.defaultFS": "hdfs://elsewhere"}, "fs.defaultFS"),
        ("csv", {"spark.sql.runSQLOnFiles": "true"}, "spark.sql.runSQLOnFiles"),
    ],
)
def test_options_that_change_what_is_read_are_refused(fmt: str, options: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Source.model_validate(source(fmt, options))
    message = str(raised.value)
    assert "options" in message and named in message


def test_secret_options_hold_credentials_and_parsing_options_only() -> None:
    ok = Source.model_validate(source("parquet", secret=["fs.s3a.access.key", "fs.s3a.secret.key"]))
    assert [s.option for s in ok.secret_options] == ["fs.s3a.access.key", "fs.s3a.secret.key"]
    for option in ("path", "fs.s3a.impl", "fs.s3a.aws.credentials.provider"):
        with pytest.raises(ValidationError, match="secretOptions"):
            Source.model_validate(source("parquet", secret=[option]))


@pytest.mark.parametrize("path", ["/", "/etc", "/usr/lib/python3/dist-packages", "/data/../etc", "/tmp", "/data/.x"])
def test_a_domain_volume_never_mounts_over_the_images_own_files(path: str) -> None:
    from datamesh.api.domain import PersistentVolume

    with pytest.raises(ValidationError, match="mountPath|mount_path"):
        PersistentVolume.model_validate({"mountPath": path})
    assert PersistentVolume.model_validate({"mountPath": "/data/sales"}).mount_path == "/data/sales"
