"""Benchmark: our customer-360 build (all checks + atomic Delta publish) against the seed's reference logic.

Both run in the same local[2] session with the same settings, on the same demo data:

- seed: a literal port of the seed's Step 3 (`CustomerDataProduct.build`): a null-count pass, a count pass
  and a distinct-count pass, then the Delta write;
- ours: `run_build` on the customer-360 example (7 checks, staging write with observed metrics,
  uniqueness pass, publish);
- ours without checks: the same build with no quality checks, to measure what the checks cost.

Before timing, one run of the seed logic and one of ours warm the session up (JIT, codegen, file caches,
first imports), so neither contender's figures include its first-use costs. The seed reads the inputs through
views registered beforehand; our build registers its inputs itself (the tickets CSV's schema inference
included), inside its timing.

With `--repeat N` the three run N times in turn (each into new table folders, so every run is a first publish),
and the medians are reported; the load average is printed before and after, as the machine may be shared.

Usage: python bench/build.py [--scale 1.0] [--data DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def seed_reference(spark: Any, product_path: str) -> None:
    """The seed's CustomerDataProduct.build, verbatim apart from reading the views and the catalog step."""
    from pyspark.sql.functions import avg, coalesce, col, count, current_timestamp, lit, when
    from pyspark.sql.functions import max as max_
    from pyspark.sql.functions import sum as sum_

    customers = spark.table("`bronze.crm.customers`")
    sessions = spark.table("`bronze.web.sessions`")
    tickets = spark.table("`bronze.support.tickets`")
    customer_360 = (
        customers.alias("c")
        .join(
            sessions.groupBy("customer_id")
            .agg(
                count("*").alias("session_count"),
                sum_("page_views").alias("total_page_views"),
                max_("session_timestamp").alias("last_session"),
            )
            .alias("s"),
            col("c.customer_id") == col("s.customer_id"),
            "left",
        )
        .join(
            tickets.groupBy("customer_id")
            .agg(count("*").alias("ticket_count"), avg("satisfaction_score").alias("avg_satisfaction"))
            .alias("t"),
            col("c.customer_id") == col("t.customer_id"),
            "left",
        )
        .select(
            col("c.customer_id"),
            col("c.email"),
            col("c.name"),
            col("c.created_at"),
            coalesce(col("s.session_count"), lit(0)).alias("session_count"),
            coalesce(col("s.total_page_views"), lit(0)).alias("total_page_views"),
            col("s.last_session"),
            coalesce(col("t.ticket_count"), lit(0)).alias("support_tickets"),
            col("t.avg_satisfaction"),
            current_timestamp().alias("updated_at"),
        )
    )
    df = customer_360
    null_counts = df.select([(count(when(col(c).isNull(), c)) / count("*")).alias(c) for c in df.columns]).collect()[0]
    for col_name, null_rate in null_counts.asDict().items():
        if null_rate > 0.01 and col_name not in ["last_session", "avg_satisfaction"]:
            raise ValueError(f"Column {col_name} has {null_rate:.2%} nulls")
    total = df.count()
    unique = df.select("customer_id").distinct().count()
    if unique != total:
        raise ValueError(f"customer_id not unique: {unique}/{total}")
    customer_360.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(product_path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M customers / 5M sessions / 500k tickets")
    parser.add_argument("--data", help="lake root to (re)use; default: a temporary folder")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of seed, ours, ours without checks")
    args = parser.parse_args()

    from datamesh.build import demodata
    from datamesh.build.local import build_request
    from datamesh.build.runner import Timings, run_build
    from datamesh.build.session import create_session
    from datamesh.manifests import load_mesh

    work = Path(tempfile.mkdtemp(prefix="datamesh-bench-"))
    root = Path(args.data) if args.data else work / "lake"
    marker = root / f".scale-{args.scale}"
    if not marker.exists():
        print(f"writing demo data at scale {args.scale} to {root}", file=sys.stderr)
        demodata.write(root, scale=args.scale)
        marker.touch()
    manifests = work / "manifests"
    manifests.mkdir()
    for path in (REPO / "examples" / "domains").glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace("/var/lib/datamesh/lake", str(root))
        (manifests / path.name).write_text(text, encoding="utf-8")
    shutil.copy(REPO / "examples" / "products" / "customer-360.yaml", manifests)
    mesh = load_mesh([manifests])

    spark = create_session()
    request = build_request(mesh, "customer-360", run_id="bench")
    for item in request.inputs:
        reader = spark.read.format(item.format).options(**item.options)
        reader = reader.schema(item.read_schema) if item.read_schema else reader
        reader.load(item.location).createOrReplaceTempView(f"`{item.ref}`")

    def ours(checks: bool, out: str) -> tuple[float, Timings]:
        req = build_request(mesh, "customer-360", run_id=f"bench-{out}")
        req.output_location = str(work / out)
        # The request shares the manifests' spec object: a copy, so that dropping the checks here does not drop
        # them from every later build of the run.
        req.spec = req.spec.model_copy(deep=True)
        if not checks:
            req.spec.governance.quality_checks = []
        timings = Timings()
        began = time.monotonic()
        result = run_build(req, spark=spark, timings=timings)
        elapsed = time.monotonic() - began
        if result.outcome != "Published":
            raise SystemExit(f"build failed: {result.message}")
        return elapsed, timings

    def seed(out: str) -> tuple[float, Timings]:
        began = time.monotonic()
        seed_reference(spark, str(work / out))
        return time.monotonic() - began, Timings()

    def phase_text(timings: Timings) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in timings.phases.items())

    # Warm-up (JIT, file-system caches, first-use setup) so neither contender pays for it: one run of each.
    spark.sql("SELECT count(*) FROM `bronze.web.sessions`").collect()
    print(f"warm-up: seed logic {seed('warmup-seed')[0]:.1f}s", file=sys.stderr)
    elapsed, timings = ours(True, "warmup-ours")
    print(f"warm-up: ours {elapsed:.1f}s ({phase_text(timings)})", file=sys.stderr)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, local[2]")
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"seed": [], "ours": [], "bare": []}
    all_phases: dict[str, list[Timings]] = {"ours": [], "bare": []}
    contenders = [
        ("seed", lambda r: seed(f"seed-{r}")),
        ("ours", lambda r: ours(True, f"ours-{r}")),
        ("bare", lambda r: ours(False, f"bare-{r}")),
    ]
    for round_ in range(args.repeat):
        # The order rotates from round to round, so that no contender always runs first (or after the same one).
        shift = round_ % len(contenders)
        for name, run in contenders[shift:] + contenders[:shift]:
            elapsed, timings = run(round_ + 1)
            times[name].append(elapsed)
            if name in all_phases:
                all_phases[name].append(timings)
        if args.repeat > 1:
            s, o, b = times["seed"][-1], times["ours"][-1], times["bare"][-1]
            print(
                f"round {round_ + 1}: seed {s:.1f}s, ours {o:.1f}s ({s / o:.2f}x), without checks {b:.1f}s"
                f" (checks {max(0.0, o - b) / o:.1%}); {phase_text(all_phases['ours'][-1])}"
            )
    seed_time, ours_time, bare_time = (statistics.median(times[k]) for k in ("seed", "ours", "bare"))
    phases = {
        name: Timings({k: statistics.median(p.phases[k] for p in runs) for k in runs[0].phases})
        for name, runs in all_phases.items()
    }
    # Paired per round (ours and ours without checks ran back to back), which a passing neighbour disturbs less
    # than the difference of the two medians.
    checks_share = max(0.0, statistics.median((o - b) / o for o, b in zip(times["ours"], times["bare"], strict=True)))
    load_after = os.getloadavg()

    which = f"median of {args.repeat} rounds" if args.repeat > 1 else "one run"
    before, after = (" ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"load average (1/5/15 min) before: {before}, after: {after}")
    print(f"scale {args.scale} ({which}): seed reference {seed_time:.1f}s, ours {ours_time:.1f}s")
    print(f"speed-up (seed / ours): {seed_time / ours_time:.2f}x")
    share = "median of the rounds' shares" if args.repeat > 1 else "(ours - ours without checks) / ours"
    print(f"ours without checks: {bare_time:.1f}s -> quality checks are {checks_share:.1%} of our build ({share})")
    print(f"our phases: {phase_text(phases['ours'])}")
    print(f"our phases without checks: {phase_text(phases['bare'])}")
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
