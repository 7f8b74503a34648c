"""Which Spark reader options a Domain source may set: an allow-list per format, refused otherwise.

Reader options are tenant-written strings that reach Spark's DataFrameReader and, for `fs.*` names, the Hadoop
configuration of the read. Some options change WHAT is read (`path`, `paths`, `basePath`), load classes
(`fs.<scheme>.impl`, credential providers) or pin versions the build pins itself (`versionAsOf`). Rather than
chase such names, only options known to change how the declared files are parsed are accepted, plus the few
object-store settings that name no class. Names are compared case-insensitively, as Spark does.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Every file source: filtering and robustness within the declared location.
_FILES = {"pathglobfilter", "recursivefilelookup", "modifiedbefore", "modifiedafter", "ignorecorruptfiles",
          "ignoremissingfiles"}  # fmt: skip
_TEXT = {"encoding", "charset", "linesep", "mode", "columnnameofcorruptrecord", "multiline", "dateformat",
         "timestampformat", "timestampntzformat", "locale", "samplingratio"}  # fmt: skip
ALLOWED: dict[str, frozenset[str]] = {
    "csv": frozenset(_FILES | _TEXT | {
        "sep", "delimiter", "quote", "escape", "comment", "header", "inferschema", "ignoreleadingwhitespace",
        "ignoretrailingwhitespace", "nullvalue", "nanvalue", "positiveinf", "negativeinf", "maxcolumns",
        "maxcharspercolumn", "chartoescapequoteescaping", "emptyvalue", "unescapedquotehandling",
        "enforceschema", "preferdate", "escapequotes", "quoteall"}),
    "json": frozenset(_FILES | _TEXT | {
        "primitivesasstring", "prefersdecimal", "allowcomments", "allowunquotedfieldnames", "allowsinglequotes",
        "allownumericleadingzeros", "allowbackslashescapinganycharacter", "allowunquotedcontrolchars",
        "dropfieldifallnull", "allownonnumericnumbers"}),
    "parquet": frozenset(_FILES | {"mergeschema", "datetimerebasemode", "int96rebasemode"}),
    "delta": frozenset(),
}  # fmt: skip
#: Object-store settings of the read (Hadoop configuration) that name no class and read nothing else.
OBJECT_STORE = frozenset({"fs.s3a.endpoint", "fs.s3a.endpoint.region", "fs.s3a.path.style.access",
                          "fs.s3a.connection.ssl.enabled"})  # fmt: skip
#: Credentials of object stores, only ever as secretOptions: Hadoop's per-filesystem key, secret and token names.
CREDENTIAL_PREFIXES = ("fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token", "fs.azure.account.key.",
                       "fs.azure.sas.", "fs.gs.auth.service.account.private.key")  # fmt: skip


def refused(names: Iterable[str], source_format: str, *, secret: bool) -> list[str]:
    """The option names a `source_format` source may not set (in secretOptions when `secret`), sorted."""
    allowed = ALLOWED.get(source_format, frozenset()) | OBJECT_STORE
    out = []
    for name in names:
        key = name.lower()
        if key in allowed or (secret and key.startswith(CREDENTIAL_PREFIXES)):
            continue
        out.append(name)
    return sorted(out)


def problem(names: Iterable[str], source_format: str, *, secret: bool, field: str) -> str | None:
    found = refused(names, source_format, secret=secret)
    if not found:
        return None
    return (
        f"{field}: {', '.join(found)} not allowed for {source_format} sources: only options that change how the"
        " declared files are parsed, object-store endpoints and (as secretOptions) object-store credentials"
    )
