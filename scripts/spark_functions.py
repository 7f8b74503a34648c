"""Compare datamesh.api.spark_functions with a live Spark's function registry (run after a Spark upgrade).

    .venv/bin/python scripts/spark_functions.py          # exit 1 and list the differences, if any
    .venv/bin/python scripts/spark_functions.py --dump   # print the registry grouped, to edit the lists by hand

Lives outside the package because it needs pyspark and a JVM; the operator only imports the checked-in lists.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

from datamesh.api.spark_functions import registry_differences


def registry(spark: Any) -> dict[str, str]:
    """Every built-in function of `spark` and the group its ExpressionInfo gives it ("" for operators)."""
    jvm = spark._jvm
    catalog = spark._jsparkSession.sessionState().catalog()
    found = {}
    for row in spark.sql("SHOW SYSTEM FUNCTIONS").collect():
        name = row[0]
        info = catalog.lookupFunctionInfo(jvm.org.apache.spark.sql.catalyst.FunctionIdentifier.apply(name))
        found[name] = info.getGroup() or ""
    return found


def main(argv: list[str]) -> int:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        functions = registry(spark)
    finally:
        spark.stop()
    if "--dump" in argv:
        groups: dict[str, list[str]] = defaultdict(list)
        for name, group in functions.items():
            groups[group or "operators"].append(name)
        for group in sorted(groups):
            print(f"# {group}\n{', '.join(sorted(groups[group]))}")
        return 0
    differences = registry_differences(functions)
    for line in differences:
        print(line)
    print(f"{len(functions)} functions, {len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
