"""Secrets inside the build pod: secret reader options and the PII masking key, read from the environment.

The build request only NAMES the environment variables that hold secrets (the kubelet fills them from Secrets),
so the request, the Job and the product's status never carry a value. This module reads them when the build
needs them, and redacts them from any message that may leave the pod.

Masking is HMAC-SHA256 with the mesh-wide key, hex-encoded: stable across products and domains (masked keys
still join), but no dictionary of e-mail addresses reverses it without the key. It runs as a (pickled, not
pandas/arrow) Python UDF rather than as Spark's sha2 composed per RFC 2104: that composition is exact, but it
puts the key (as k XOR ipad/opad, equivalent to the key) into the query plan as a literal, and Spark prints the
plan of the input views in ordinary analysis errors (an unresolved column in the transform's SQL), which end up
in the product's status. A UDF keeps the key in its closure; the plan shows only `datamesh_mask(column)`. The
image installs no pandas, so the UDF is a classic one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from datamesh import masking
from datamesh.build.errors import BuildError
from datamesh.mesh.contract import MASKING_KEY_ENV, ResolvedInput

if TYPE_CHECKING:
    from pyspark.sql import Column

#: Shorter keys are refused: the key is all that stands between a masked column and a dictionary attack.
#: Secret values shorter than this are not redacted from messages (it would mangle ordinary words).
MIN_REDACTED_LENGTH = 4
REDACTED = "[REDACTED]"


def masking_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The mesh-wide masking key (hex in MASKING_KEY_ENV); raises BuildError MaskingKeyMissing without a usable one.

    There is no fallback to an unkeyed hash: that is exactly what a dictionary reverses."""
    try:
        return masking.key_from_env(environ)
    except masking.MaskingKeyError as error:
        raise BuildError(
            "MaskingKeyMissing",
            f"PII must be masked but the build has no usable masking key: {error} (the operator keeps it in the"
            " domain namespace's build Secret)",
        ) from None


def mask_function(key: bytes) -> Callable[[str | None], str | None]:
    """datamesh.masking.mask_text under `key`; None stays None."""

    def datamesh_mask(value: str | None) -> str | None:
        return None if value is None else masking.mask_text(key, value)

    return datamesh_mask


def mask_column(key: bytes) -> Callable[[Column], Column]:
    """A Spark function masking a string column with `mask_function(key)` (see the module docstring for why a UDF)."""
    from pyspark.sql import functions as F

    masked: Callable[[Column], Column] = F.udf(mask_function(key), "string", useArrow=False)
    return masked


def reader_options(item: ResolvedInput, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The input's reader options: the plain ones plus each secret option's value from the environment."""
    env = os.environ if environ is None else environ
    options = dict(item.options)
    for ref in item.secret_options:
        value = env.get(ref.env)
        if value is None:
            raise BuildError(
                "CredentialsUnavailable",
                f"input {item.ref}: option {ref.option} has no value: key {ref.key!r} of Secret {ref.secret!r}"
                " is missing from the domain's namespace",
            )
        options[ref.option] = value
    return options


def secret_values(items: Sequence[ResolvedInput], environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value the build holds (secret options and the masking key), for redaction."""
    env = os.environ if environ is None else environ
    names = [ref.env for item in items for ref in item.secret_options] + [MASKING_KEY_ENV]
    return [env[name] for name in names if env.get(name)]


def redact(text: str, values: list[str]) -> str:
    """`text` with every secret value (of a useful length) replaced: Spark may echo an option's value in an error."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= MIN_REDACTED_LENGTH:
            text = text.replace(value, REDACTED)
    return text
