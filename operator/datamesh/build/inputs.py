"""Reading the inputs and registering each as a temporary view the transform can query.

View naming: an input is visible under its `alias` when it has one. Otherwise a source is visible under its
dotted name as ONE identifier, so SQL quotes it with backticks (`bronze.crm.customers`), and a product
under its name with '-' turned into '_' (customer-360 -> customer_360).

Secret reader options and the masking key come from the pod's environment (see build.secrets); an error
message that leaves the build never carries their values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from datamesh.api import readeroptions
from datamesh.build.errors import BuildError, classify, one_line
from datamesh.build.secrets import mask_column, masking_key, reader_options, redact, secret_values
from datamesh.mesh.contract import ResolvedInput
from datamesh.placement import is_local, local_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from datamesh.build.backend import Backend


def quoted(view: str) -> str:
    """The view name as SQL must write it."""
    return view if view.replace("_", "a").isalnum() and not view[:1].isdigit() else f"`{view}`"


@dataclass
class LoadedInputs:
    frames: dict[str, DataFrame] = field(default_factory=dict)
    """View name -> frame, also what a Python transform receives."""
    versions: dict[str, int] = field(default_factory=dict)
    """Input ref -> Delta version read, for Delta inputs."""


def _check_exists(item: ResolvedInput) -> None:
    if is_local(item.location) and not os.path.exists(local_path(item.location)):
        raise BuildError("InputMissing", f"input {item.ref} ({item.kind} of {item.domain}): no data at {item.location}")


def _read(
    spark: SparkSession, item: ResolvedInput, versions: dict[str, int], options: dict[str, str], backend: Backend
) -> DataFrame:
    # The contract's allow-list again, where the options meet Spark (the request may not have come from it).
    plain = readeroptions.problem(item.options, item.format, secret=False, field=f"input {item.ref} options")
    secret = readeroptions.problem([r.option for r in item.secret_options], item.format, secret=True,
                                   field=f"input {item.ref} secretOptions")  # fmt: skip
    if plain or secret:
        raise BuildError("InputError", "; ".join(p for p in (plain, secret) if p))
    if item.format == "delta":
        version = backend.delta_version(item.location)
        if version is None:
            raise BuildError("InputMissing", f"input {item.ref}: no Delta table at {item.location}")
        versions[item.ref] = version
        # Pinned, so the version recorded in the commit is exactly the one read even if upstream publishes meanwhile.
        return spark.read.format("delta").options(**options).option("versionAsOf", version).load(item.location)
    reader = spark.read.format(item.format).options(**options)
    if item.read_schema:
        try:
            reader = reader.schema(item.read_schema)
        except Exception as error:
            raise BuildError(
                "InputError", f"input {item.ref}: schema {item.read_schema!r}: {one_line(str(error))}"
            ) from error
    return reader.load(item.location)


def needs_masking(item: ResolvedInput) -> bool:
    return item.pii == "mask" and bool(item.pii_columns)


def apply_pii(df: DataFrame, item: ResolvedInput, key: bytes | None = None) -> DataFrame:
    """The consumer's view of the input's PII columns: dropped (exclude), HMAC-SHA256 hex under the mesh-wide
    `key` (mask; nulls stay null) or as is (clear). Masking without a key fails: there is no unkeyed fallback."""
    from pyspark.sql import functions as F

    present = {c.lower(): c for c in df.columns}
    columns = [present[c.lower()] for c in item.pii_columns if c.lower() in present]
    if item.pii == "clear" or not columns:
        return df
    if item.pii == "exclude":
        return df.drop(*columns)
    if key is None:
        raise BuildError("MaskingKeyMissing", f"input {item.ref}: PII columns must be masked but there is no key")
    mask = mask_column(key)
    return df.withColumns({c: mask(F.col(f"`{c}`").cast("string")) for c in columns})


def register(
    spark: SparkSession,
    inputs: Sequence[ResolvedInput],
    environ: Mapping[str, str] | None = None,
    backend: Backend | None = None,
) -> LoadedInputs:
    """Read every input and register its view; raises BuildError naming the input that failed.

    Secret options and the masking key are read from `environ` (default: the process environment)."""
    from datamesh.build.backend import LocalBackend

    env = os.environ if environ is None else environ
    versions_from = backend or LocalBackend(spark)
    # Before any data is read: a build that must mask and cannot should fail at once, whatever else is wrong.
    key = masking_key(env) if any(needs_masking(item) for item in inputs) else None
    secrets = secret_values(inputs, env)
    loaded = LoadedInputs()
    for item in inputs:
        _check_exists(item)
        try:
            options = reader_options(item, env)
            df = apply_pii(_read(spark, item, loaded.versions, options, versions_from), item, key)
        except BuildError as error:
            raise BuildError(error.reason, redact(error.message, secrets)) from error
        except Exception as error:
            text = str(error)
            if "PATH_NOT_FOUND" in text or "Path does not exist" in text or "UNABLE_TO_INFER_SCHEMA" in text:
                raise BuildError("InputMissing", f"input {item.ref}: no readable data at {item.location}") from error
            found = classify(error, "InputError")
            # Spark may echo an option's value (a malformed endpoint, say): redacted before the message is cut short,
            # so no secret survives half-cut, and after whitespace is collapsed.
            message = redact(one_line(redact(text, secrets), limit=len(text)), secrets)
            raise BuildError(found.reason, f"input {item.ref}: {message}") from error
        # A dotted name is one identifier here: backticks make Spark take it whole, not as db.table.
        df.createOrReplaceTempView(f"`{item.view}`" if "." in item.view else item.view)
        loaded.frames[item.view] = df
    return loaded
