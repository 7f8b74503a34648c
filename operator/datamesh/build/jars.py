"""Delta Lake jars: which Maven coordinates, where they are cached, and how an image bakes them in.

Locally, Spark resolves the coordinates with Ivy once into the datamesh cache and reuses them. A build pod
must not download anything at run time, so the image calls `fetch_jars(dest)` at image build time
(`python -m datamesh.build.jars /opt/datamesh/jars`) and sets DATAMESH_JARS_DIR to that folder: the session
factory then puts those files on the classpath and Ivy never runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

JARS_DIR_ENV = "DATAMESH_JARS_DIR"
CACHE_ENV = "DATAMESH_CACHE"
DELTA_VERSION_ENV = "DATAMESH_DELTA_VERSION"
SCALA_VERSION = "2.13"
#: Maven version of the Delta jars. delta-spark 4.4.1 on PyPI is a Python-only patch release: Maven Central
#: has no 4.4.1 artifact, and the 4.4.0 jars are what the 4.4 Python API talks to.
DELTA_JAR_VERSION = "4.4.0"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "datamesh")


def ivy_dir() -> Path:
    return cache_dir() / "ivy"


def delta_coordinates(spark_version: str | None = None) -> list[str]:
    """Maven coordinates of the Delta jars matching the installed pyspark."""
    if spark_version is None:
        import pyspark

        spark_version = pyspark.__version__
    major_minor = ".".join(spark_version.split(".")[:2])
    version = os.environ.get(DELTA_VERSION_ENV) or DELTA_JAR_VERSION
    return [f"io.delta:delta-spark_{major_minor}_{SCALA_VERSION}:{version}"]


def local_jars(folder: str | Path) -> list[Path]:
    """The jar files of an offline jars folder; raises when there are none, naming the folder."""
    path = Path(folder)
    jars = sorted(path.glob("*.jar")) if path.is_dir() else []
    if not jars:
        raise FileNotFoundError(f"{JARS_DIR_ENV}={folder} holds no .jar files (run datamesh.build.jars to fetch them)")
    return jars


def jar_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Spark settings that put Delta on the classpath: offline jars when configured, else cached Ivy."""
    env = os.environ if environ is None else environ
    folder = env.get(JARS_DIR_ENV)
    if folder:
        return {"spark.jars": ",".join(str(j) for j in local_jars(folder))}
    return {"spark.jars.packages": ",".join(delta_coordinates()), "spark.jars.ivy": str(ivy_dir())}


def fetch_jars(dest: str | Path) -> list[Path]:
    """Resolve the Delta jars (and their runtime dependencies) from Maven and copy them into `dest`.

    Resolution goes through Spark's own Ivy so the set is exactly what `spark.jars.packages` would load.
    """
    from pyspark.sql import SparkSession

    ivy = ivy_dir()
    session = (
        SparkSession.builder.master("local[1]")
        .appName("datamesh-fetch-jars")
        .config("spark.jars.packages", ",".join(delta_coordinates()))
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.stop()
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    # The datamesh Ivy folder only ever resolves the Delta coordinates, so its jars folder is that closure.
    for jar in sorted((ivy / "jars").glob("*.jar")):
        shutil.copy2(jar, target / jar.name)
        copied.append(target / jar.name)
    return copied


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m datamesh.build.jars DEST", file=sys.stderr)
        return 2
    for jar in fetch_jars(args[0]):
        print(jar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
