"""A real PostgreSQL server from Debian's package, for the catalog's production backend (session fixture).

Installed with apt-get when missing; started as the `postgres` user on a free loopback port; stopped at the
end of the run. Registered for every test through `pytest_plugins` in the root conftest.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster.cluster import free_port
from tests.requirements import may_install_system_packages, missing


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found and Path(found[-1]).with_name("initdb").exists():
        return Path(found[-1]).parent
    return None


def _install_postgres() -> Path:
    if _postgres_bin() is None:
        if not may_install_system_packages():
            missing("PostgreSQL is not installed and system packages may not be installed here")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                missing(f"apt-get install postgresql failed: {result.stderr[-500:]}")
    found = _postgres_bin()
    assert found is not None, "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    return found


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port, run as the `postgres` user when we are root."""

    bin_dir: Path
    data_dir: Path
    port: int

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data_dir} -F"
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "server.log"),
            "start",
        )
        assert result.returncode == 0, f"pg_ctl start failed: {result.stdout}{result.stderr}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def create_database(self) -> str:
        import psycopg

        name = f"catalog_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _install_postgres()
    root = Path(tempfile.mkdtemp(prefix="datamesh-catalog-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        shutil.chown(root, "postgres")
        shutil.chown(data_dir, "postgres")
    server = PostgresServer(bin_dir, data_dir, free_port())
    init = server._run("initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    assert init.returncode == 0, f"initdb failed: {init.stdout}{init.stderr}"
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
