"""Which Spark SQL functions a tenant's SQL may call: an allow-list taken from Spark's own function registry.

A tenant's `transform.sql` and quality-check expressions run inside our build pods, so every function they
can name is attack surface: some reach the JVM (`reflect`, `java_method`), some read files named at run time
(protobuf descriptors, Avro schema URLs), some parse XML, some leak file paths. Rather than chase the
dangerous ones, this module lists the functions that are known to be pure computations over values and
refuses everything else.

The lists are a snapshot of Spark 4.2.0's built-in registry (`SHOW FUNCTIONS`, grouped by the `group` of
each function's ExpressionInfo); `scripts/spark_functions.py` regenerates the comparison against a live
session and fails when a Spark upgrade adds, drops or regroups a function, so an upgrade cannot silently
open a hole: a new function is unknown here and therefore refused until someone decides about it.
Every registry function is on exactly one of ALLOWED_BY_GROUP / DENIED_BY_REASON. Names are lower case;
lookups are case-insensitive. The runtime never imports pyspark.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

SPARK_VERSION: Final = "4.2.0"

_ALLOWED: dict[str, frozenset[str]] = {
    # Aggregates: summaries of the rows a group holds. `measure` is left out (see DENIED_BY_REASON).
    "agg_funcs": frozenset(
        {
            "any", "any_value", "approx_count_distinct", "approx_percentile", "approx_top_k",
            "approx_top_k_accumulate", "approx_top_k_combine", "array_agg", "avg", "bit_and", "bit_or",
            "bit_xor", "bitmap_and_agg", "bitmap_construct_agg", "bitmap_or_agg", "bool_and", "bool_or",
            "collect_list", "collect_set", "corr", "count", "count_if", "count_min_sketch", "covar_pop",
            "covar_samp", "every", "first", "first_value", "grouping", "grouping_id", "histogram_numeric",
            "hll_sketch_agg", "hll_union_agg", "kll_merge_agg_bigint", "kll_merge_agg_double",
            "kll_merge_agg_float", "kll_sketch_agg_bigint", "kll_sketch_agg_double", "kll_sketch_agg_float",
            "kurtosis", "last", "last_value", "listagg", "max", "max_by", "mean", "median", "min", "min_by",
            "mode", "percentile", "percentile_approx", "percentile_cont", "percentile_disc", "regr_avgx",
            "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
            "regr_syy", "skewness", "some", "std", "stddev", "stddev_pop", "stddev_samp", "string_agg", "sum",
            "theta_intersection_agg", "theta_sketch_agg", "theta_union_agg", "try_avg", "try_sum",
            "tuple_intersection_agg_double", "tuple_intersection_agg_integer", "tuple_sketch_agg_double",
            "tuple_sketch_agg_integer", "tuple_union_agg_double", "tuple_union_agg_integer", "var_pop",
            "var_samp", "variance",
        }
    ),
    "window_funcs": frozenset(
        {"cume_dist", "dense_rank", "lag", "lead", "nth_value", "ntile", "percent_rank", "rank", "row_number"}
    ),
    "array_funcs": frozenset(
        {
            "array", "array_append", "array_compact", "array_contains", "array_distinct", "array_except",
            "array_insert", "array_intersect", "array_join", "array_max", "array_min", "array_position",
            "array_prepend", "array_remove", "array_repeat", "array_size", "array_union", "arrays_overlap",
            "arrays_zip", "flatten", "get", "sequence", "shuffle", "slice", "sort_array",
        }
    ),
    "collection_funcs": frozenset({"cardinality", "concat", "element_at", "reverse", "size", "try_element_at"}),
    "map_funcs": frozenset(
        {
            "map", "map_concat", "map_contains_key", "map_entries", "map_from_arrays", "map_from_entries",
            "map_keys", "map_values", "str_to_map",
        }
    ),
    "struct_funcs": frozenset({"named_struct", "struct"}),
    # Higher-order functions: their lambdas are checked like any other expression.
    "lambda_funcs": frozenset(
        {
            "aggregate", "array_sort", "exists", "filter", "forall", "map_filter", "map_zip_with", "reduce",
            "transform", "transform_keys", "transform_values", "zip_with",
        }
    ),
    "bitwise_funcs": frozenset(
        {
            "&", "<<", ">>", ">>>", "^", "bit_count", "bit_get", "getbit", "shiftleft", "shiftright",
            "shiftrightunsigned", "|", "~",
        }
    ),
    "conditional_funcs": frozenset(
        {"between", "coalesce", "if", "ifnull", "nanvl", "nullif", "nullifzero", "nvl", "nvl2", "when", "zeroifnull"}
    ),
    "conversion_funcs": frozenset(
        {
            "bigint", "binary", "boolean", "cast", "date", "decimal", "double", "float", "int", "smallint",
            "string", "time", "timestamp", "tinyint",
        }
    ),
    # from_csv/to_csv take a schema and options for the CSV *parser of a string value*; nothing is read.
    "csv_funcs": frozenset({"from_csv", "schema_of_csv", "to_csv"}),
    "datetime_funcs": frozenset(
        {
            "add_months", "convert_timezone", "curdate", "current_date", "current_time", "current_timestamp",
            "current_timezone", "date_add", "date_diff", "date_format", "date_from_unix_date", "date_part",
            "date_sub", "date_trunc", "dateadd", "datediff", "datepart", "day", "dayname", "dayofmonth",
            "dayofweek", "dayofyear", "extract", "from_unixtime", "from_utc_timestamp", "hour", "last_day",
            "localtimestamp", "make_date", "make_dt_interval", "make_interval", "make_time", "make_timestamp",
            "make_timestamp_ltz", "make_timestamp_ntz", "make_ym_interval", "minute", "month", "monthname",
            "months_between", "next_day", "now", "quarter", "second", "session_window", "time_bucket",
            "time_diff", "time_from_micros", "time_from_millis", "time_from_seconds", "time_to_micros",
            "time_to_millis", "time_to_seconds", "time_trunc", "timestamp_micros", "timestamp_millis",
            "timestamp_seconds", "to_date", "to_time", "to_timestamp", "to_timestamp_ltz", "to_timestamp_ntz",
            "to_unix_timestamp", "to_utc_timestamp", "trunc", "try_make_interval", "try_make_timestamp",
            "try_make_timestamp_ltz", "try_make_timestamp_ntz", "try_to_date", "try_to_time",
            "try_to_timestamp", "unix_date", "unix_micros", "unix_millis", "unix_seconds", "unix_timestamp",
            "weekday", "weekofyear", "window", "window_time", "year",
        }
    ),
    # Row generators for SELECT lists and LATERAL VIEW; the checker refuses them as table functions in FROM.
    "generator_funcs": frozenset(
        {"explode", "explode_outer", "inline", "inline_outer", "posexplode", "posexplode_outer", "stack"}
    ),
    "hash_funcs": frozenset({"crc32", "hash", "md5", "sha", "sha1", "sha2", "xxhash64"}),
    "json_funcs": frozenset(
        {
            "from_json", "get_json_object", "json_array_length", "json_object_keys", "json_tuple",
            "schema_of_json", "to_json",
        }
    ),
    "math_funcs": frozenset(
        {
            "%", "*", "+", "-", "/", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bin",
            "bround", "cbrt", "ceil", "ceiling", "conv", "cos", "cosh", "cot", "csc", "degrees", "div", "e", "exp",
            "expm1", "factorial", "floor", "greatest", "hex", "hypot", "least", "ln", "log", "log10", "log1p",
            "log2", "mod", "negative", "pi", "pmod", "positive", "pow", "power", "radians", "rand", "randn",
            "random", "rint", "round", "sec", "sign", "signum", "sin", "sinh", "sqrt", "tan", "tanh", "try_add",
            "try_divide", "try_mod", "try_multiply", "try_subtract", "unhex", "uniform", "width_bucket",
        }
    ),
    # The harmless part of misc_funcs: identity of the session (user, catalog, version), row/partition ids,
    # bitmap helpers, assertions (which can only fail the tenant's own build) and AES with a key the tenant
    # writes into its own SQL. Reflection and input-file functions are denied below.
    "misc_funcs": frozenset(
        {
            "aes_decrypt", "aes_encrypt", "assert_true", "bitmap_bit_position", "bitmap_bucket_number",
            "bitmap_count", "current_catalog", "current_database", "current_path", "current_schema",
            "current_user", "monotonically_increasing_id", "raise_error", "session_user", "spark_partition_id",
            "try_aes_decrypt", "typeof", "user", "uuid", "version",
        }
    ),
    # Operators Spark registers under their symbol or keyword (the registry's group is empty for these).
    "operators": frozenset({"!=", "<>", "case", "||"}),
    "predicate_funcs": frozenset(
        {
            "!", "<", "<=", "<=>", "=", "==", ">", ">=", "and", "equal_null", "ilike", "in", "isnan",
            "isnotnull", "isnull", "like", "not", "or", "regexp", "regexp_like", "rlike",
        }
    ),
    "sketch_funcs": frozenset(
        {
            "approx_top_k_estimate", "hll_sketch_estimate", "hll_union", "kll_sketch_get_n_bigint",
            "kll_sketch_get_n_double", "kll_sketch_get_n_float", "kll_sketch_get_quantile_bigint",
            "kll_sketch_get_quantile_double", "kll_sketch_get_quantile_float", "kll_sketch_get_rank_bigint",
            "kll_sketch_get_rank_double", "kll_sketch_get_rank_float", "kll_sketch_merge_bigint",
            "kll_sketch_merge_double", "kll_sketch_merge_float", "kll_sketch_to_string_bigint",
            "kll_sketch_to_string_double", "kll_sketch_to_string_float", "theta_difference",
            "theta_intersection", "theta_sketch_estimate", "theta_union", "tuple_difference_double",
            "tuple_difference_integer", "tuple_difference_theta_double", "tuple_difference_theta_integer",
            "tuple_intersection_double", "tuple_intersection_integer", "tuple_intersection_theta_double",
            "tuple_intersection_theta_integer", "tuple_sketch_estimate_double", "tuple_sketch_estimate_integer",
            "tuple_sketch_summary_double", "tuple_sketch_summary_integer", "tuple_sketch_theta_double",
            "tuple_sketch_theta_integer", "tuple_union_double", "tuple_union_integer", "tuple_union_theta_double",
            "tuple_union_theta_integer",
        }
    ),
    # Geometry from well-known binary held in a column: value functions, no I/O.
    "st_funcs": frozenset({"st_asbinary", "st_geogfromwkb", "st_geomfromwkb", "st_setsrid", "st_srid"}),
    "string_funcs": frozenset(
        {
            "ascii", "base64", "bit_length", "btrim", "char", "char_length", "character_length", "chr",
            "collate", "collation", "concat_ws", "contains", "decode", "elt", "encode", "endswith",
            "find_in_set", "format_number", "format_string", "initcap", "instr", "is_valid_utf8", "lcase",
            "left", "len", "length", "levenshtein", "locate", "lower", "lpad", "ltrim", "luhn_check",
            "make_valid_utf8", "mask", "octet_length", "overlay", "position", "printf", "quote", "randstr",
            "regexp_count", "regexp_extract", "regexp_extract_all", "regexp_instr", "regexp_replace",
            "regexp_substr", "repeat", "replace", "right", "rpad", "rtrim", "sentences", "soundex", "space",
            "split", "split_part", "startswith", "substr", "substring", "substring_index", "to_binary",
            "to_char", "to_number", "to_varchar", "translate", "trim", "try_to_binary", "try_to_number",
            "try_validate_utf8", "ucase", "unbase64", "upper", "validate_utf8",
        }
    ),
    # URL *parsing* of string values; nothing is fetched.
    "url_funcs": frozenset({"parse_url", "try_parse_url", "try_url_decode", "url_decode", "url_encode"}),
    "variant_funcs": frozenset(
        {
            "is_valid_variant", "is_variant_null", "parse_json", "schema_of_variant", "schema_of_variant_agg",
            "to_variant_object", "try_parse_json", "try_variant_get", "variant_explode", "variant_explode_outer",
            "variant_get",
        }
    ),
    "vector_funcs": frozenset(
        {
            "vector_avg", "vector_cosine_similarity", "vector_inner_product", "vector_l2_distance",
            "vector_norm", "vector_normalize", "vector_sum",
        }
    ),
    # Serialising a struct to an XML string parses nothing; the XML parsers are denied below.
    "xml_funcs": frozenset({"to_xml"}),
    # Not registry functions but Spark syntax that sqlglot models as a function call (`TRY_CAST(x AS t)`,
    # `TIMESTAMPDIFF(MINUTE, a, b)`).
    "syntax": frozenset({"try_cast", "timestampdiff", "timestampadd"}),
}

_DENIED: dict[str, frozenset[str]] = {
    "calls arbitrary JVM methods by reflection": frozenset({"reflect", "java_method", "try_reflect"}),
    "reads protobuf descriptor files named in the call": frozenset({"from_protobuf", "to_protobuf"}),
    "can fetch an Avro schema from a URL named in its options": frozenset(
        {"from_avro", "to_avro", "schema_of_avro"}
    ),
    "parses XML (XPath and XML parser surface)": frozenset(
        {
            "from_xml", "schema_of_xml", "xpath", "xpath_boolean", "xpath_double", "xpath_float", "xpath_int",
            "xpath_long", "xpath_number", "xpath_short", "xpath_string",
        }
    ),
    "reveals storage paths of the files being read": frozenset(
        {"input_file_name", "input_file_block_start", "input_file_block_length"}
    ),
    "produces rows that are not the declared inputs (worker logs, generated ranges)": frozenset(
        {"range", "python_worker_logs"}
    ),
    "lists session metadata (collations, SQL keywords) rather than transforming data": frozenset(
        {"collations", "sql_keywords"}
    ),
    "is only meaningful over metric views, which a transform cannot define": frozenset(
        {"measure"}
    ),
    # Not in open-source Spark's registry; named so a runtime that adds them (Databricks) still refuses them.
    "reads files, secrets or remote services on runtimes that provide it": frozenset(
        {"read_files", "secret", "try_secret", "http_request", "ai_query", "cloud_files_state", "udf"}
    ),
}

ALLOWED_BY_GROUP: Final = MappingProxyType(_ALLOWED)
"""Allowed functions by Spark registry group (plus `operators` and `syntax`)."""

DENIED_BY_REASON: Final = MappingProxyType(_DENIED)
"""Denied functions by the reason they are denied."""

ALLOWED_FUNCTIONS: Final[frozenset[str]] = frozenset().union(*_ALLOWED.values())
DENIED_FUNCTIONS: Final[frozenset[str]] = frozenset().union(*_DENIED.values())

AGGREGATE_GROUPS: Final = frozenset({"agg_funcs", "window_funcs", "generator_funcs"})
"""Groups whose functions change the number of rows (aggregates, window functions, generators)."""

# Functions that aggregate, rank or generate rows but that Spark files under another group.
_ROW_CHANGING_ELSEWHERE: Final = frozenset(
    {"json_tuple", "variant_explode", "variant_explode_outer", "schema_of_variant_agg", "vector_avg", "vector_sum"}
)


def is_allowed_function(name: str) -> bool:
    """Whether a tenant may call the Spark function `name` (case-insensitive)."""
    key = name.strip().lower()
    return key in ALLOWED_FUNCTIONS and key not in DENIED_FUNCTIONS


def is_denied_function(name: str) -> bool:
    """Whether `name` (case-insensitive) is explicitly denied, whatever else may allow it."""
    return name.strip().lower() in DENIED_FUNCTIONS


def denial_reason(name: str) -> str | None:
    """Why `name` is denied, or None when it is not on the deny list."""
    key = name.strip().lower()
    return next((reason for reason, names in _DENIED.items() if key in names), None)


def is_row_changing_function(name: str) -> bool:
    """Whether `name` aggregates, ranks over a window or generates rows (not allowed in a scalar expression)."""
    key = name.strip().lower()
    return key in _ROW_CHANGING_ELSEWHERE or any(key in _ALLOWED[group] for group in AGGREGATE_GROUPS)


def registry_differences(registry: dict[str, str]) -> list[str]:
    """How `registry` (Spark function name -> ExpressionInfo group) departs from the lists above.

    Empty when every registry function is allowed or denied, none is both, and every allowed function sits
    under the group Spark gives it; `scripts/spark_functions.py` and the Spark tests feed it a live session.
    """
    found = []
    registered = {name.lower(): (group or "operators") for name, group in registry.items()}
    for name, group in sorted(registered.items()):
        allowed_in = [g for g, names in _ALLOWED.items() if name in names]
        if name in DENIED_FUNCTIONS:
            if allowed_in:
                found.append(f"{name} is both allowed ({allowed_in[0]}) and denied")
        elif not allowed_in:
            found.append(f"{name} ({group}) is new: decide whether to allow or deny it")
        elif group not in allowed_in:
            found.append(f"{name} is listed under {allowed_in[0]} but Spark files it under {group}")
    for name in sorted(ALLOWED_FUNCTIONS - registered.keys() - _ALLOWED["syntax"]):
        found.append(f"{name} is allowed but Spark {SPARK_VERSION} no longer registers it")
    return found
