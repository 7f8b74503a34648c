"""The Dockerfile, checked without a container engine: it parses, what it copies exists and is in the build
context, and every command it (and the operator's build Jobs) call exists in the package."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
ENTRYPOINT_SCRIPT = REPO / "scripts" / "container-entrypoint.sh"
INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG",
    "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


@dataclass
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions with continuation lines joined and heredoc bodies (`<<'EOF' ... EOF`) folded in."""
    lines = text.splitlines()
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        start = index
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while parts[-1].rstrip().endswith("\\") and index < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            if not lines[index].lstrip().startswith("#"):
                parts.append(lines[index])
            index += 1
        joined = " ".join(p.strip() for p in parts)
        heredoc = re.search(r"<<-?'?\"?(\w+)'?\"?", joined)
        if heredoc and joined.split(None, 1)[0].upper() in {"RUN", "COPY"}:
            terminator = heredoc.group(1)
            body = []
            while index < len(lines) and lines[index].strip() != terminator:
                body.append(lines[index])
                index += 1
            assert index < len(lines), f"Dockerfile:{start + 1}: heredoc {terminator} is never closed"
            index += 1
            joined += "\n" + "\n".join(body)
        keyword, _, value = joined.partition(" ")
        assert keyword.upper() in INSTRUCTIONS, f"Dockerfile:{start + 1}: unknown instruction {keyword}"
        assert keyword == keyword.upper(), f"Dockerfile:{start + 1}: write instructions in upper case"
        instructions.append(Instruction(keyword, value.strip(), start + 1))
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.value.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            assert instruction.keyword == "ARG", f"Dockerfile:{instruction.line}: only ARG may come before FROM"
    return instructions, stages


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` out of the build context (last matching pattern wins)."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") or pattern == "*":
            result = not negate
    return result


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), value
    return parsed


def module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_dockerfile_parses_into_builder_app_and_runtime_stages() -> None:
    _, stages = parse(DOCKERFILE.read_text())
    assert [s.name for s in stages] == ["builder", "app", "runtime"]
    assert DOCKERFILE.read_text().startswith("# syntax=docker/dockerfile:1"), "heredocs and COPY --chmod need BuildKit"
    # Same base for the builder and the runtime: the venv's interpreter symlink must resolve in the final image.
    assert stages[0].base == stages[2].base == "${PYTHON_IMAGE}"
    # The project's own layer sits on the dependencies: a code change rebuilds only it.
    assert stages[1].base == "builder"
    runtime_copies = [c.value for c in stages[2].all("COPY") if "--from=" in c.value]
    assert runtime_copies[:2] == [
        "--from=builder /opt/datamesh /opt/datamesh",
        "--from=app /opt/datamesh/app /opt/datamesh/app",
    ]


def test_copied_files_exist_and_are_in_the_build_context() -> None:
    _, stages = parse(DOCKERFILE.read_text())
    patterns = dockerignore()
    for stage in stages:
        for copy in stage.all("COPY"):
            words = [w for w in shlex.split(copy.value.split("\n")[0]) if not w.startswith("--")]
            if "--from=" in copy.value:
                continue
            for source in words[:-1]:
                assert (REPO / source).exists(), f"Dockerfile:{copy.line}: COPY source {source} does not exist"
                assert not ignored(source, patterns), f"Dockerfile:{copy.line}: {source} is excluded by .dockerignore"
    # The package sources must be in the context, local state must not.
    assert not ignored("operator/datamesh/cli/main.py", patterns)
    for secret in (".devcluster/kubeconfig", ".venv/bin/python", ".git/config", "tests/conftest.py"):
        assert ignored(secret, patterns), f"{secret} would be sent to the docker daemon"


def test_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    _, stages = parse(DOCKERFILE.read_text())
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users and users[-1].value == "1000:1000", "build Jobs run as 1000; runAsNonRoot needs a numeric user"
    assert not runtime.all("ADD"), "ADD fetches URLs and unpacks archives; COPY says what it does"
    # Nothing is compiled in the final stage: no compiler or dev package is installed there.
    runs = " ".join(r.value for r in runtime.all("RUN"))
    for tool in ("build-essential", "gcc", "-dev ", "git"):
        assert tool not in runs, f"the runtime stage installs {tool}"
    assert "openjdk-17-jre-headless" in runs and "--no-install-recommends" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs
    labels = " ".join(label.value for label in runtime.all("LABEL"))
    for key in (
        "org.opencontainers.image.title",
        "org.opencontainers.image.version",
        "org.opencontainers.image.source",
    ):
        assert key in labels


def test_environment_points_spark_at_the_baked_jars() -> None:
    from datamesh.build import jars

    _, stages = parse(DOCKERFILE.read_text())
    env = " ".join(e.value for e in stages[-1].all("ENV"))
    assert f"{jars.JARS_DIR_ENV}=/opt/datamesh/jars" in env
    assert "PATH=/opt/datamesh/app/bin:/opt/datamesh/venv/bin:$PATH" in env, "`datamesh` and `python` from PATH"
    assert "PYTHONPATH=/opt/datamesh/app" in env, "build pods run `python -m datamesh.build` from the app folder"
    builder_runs = "\n".join(r.value for r in stages[0].all("RUN"))
    # jars.py alone, before the code: its layer stays cached while the code changes.
    assert "python /tmp/jars.py /opt/datamesh/jars" in builder_runs
    builder_copies = [c.value for c in stages[0].all("COPY")]
    # The dependency list alone (generated from pyproject.toml, checked by tests/packaging): a change to the
    # project's metadata, dev tools or version keeps the ~1.5 GB dependency layer.
    assert builder_copies == [
        "requirements/image.txt /tmp/requirements.txt",
        "operator/datamesh/build/jars.py /tmp/jars.py",
    ]


def test_every_command_the_image_runs_exists_in_the_package() -> None:
    instructions, stages = parse(DOCKERFILE.read_text())
    # `python -m MODULE` anywhere in the Dockerfile.
    modules = set(re.findall(r"python -m ([\w.]+)", "\n".join(i.value for i in instructions))) - {"venv", "pip"}
    # The build Job's command (controller/jobs.py) runs in this image too.
    from datamesh.controller import jobs

    job_source = Path(jobs.__file__).read_text()
    assert '"command": ["python", "-m", "datamesh.build"]' in job_source
    modules.add("datamesh.build")
    for module in sorted(modules):
        assert module_exists(module), f"the image runs `python -m {module}`, which the package does not have"
        spec = importlib.util.find_spec(module)
        if module != "datamesh.build" and spec is not None and spec.origin:
            # A plain module runs under -m only through its `if __name__ == "__main__"` block.
            assert "__main__" in Path(spec.origin).read_text(), f"{module} does nothing when run with -m"
    assert module_exists("datamesh.build.__main__"), "`python -m datamesh.build` needs datamesh/build/__main__.py"

    runtime = stages[-1]
    entrypoint = exec_form(runtime.all("ENTRYPOINT")[-1].value)
    command = exec_form(runtime.all("CMD")[-1].value)
    assert entrypoint == ["datamesh-entrypoint"] and command == ["operator"]
    copies = " ".join(c.value for c in runtime.all("COPY"))
    assert "scripts/container-entrypoint.sh /usr/local/bin/datamesh-entrypoint" in copies
    # The entry point hands everything but Spark's `executor` to the `datamesh` console script.
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["datamesh"] == "datamesh.cli.main:main"
    from datamesh.cli.main import COMMANDS

    assert command[0] in COMMANDS
    assert 'exec datamesh "$@"' in ENTRYPOINT_SCRIPT.read_text()


def test_entrypoint_script_is_valid_shell_and_dispatches(tmp_path: Path) -> None:
    subprocess.run(["sh", "-n", str(ENTRYPOINT_SCRIPT)], check=True)
    # A fake `datamesh` and `java` on PATH show which branch runs and with what arguments.
    for name in ("datamesh", "java"):
        fake = tmp_path / "bin" / name
        fake.parent.mkdir(exist_ok=True)
        fake.write_text(f'#!/bin/sh\necho {name} "$@"\n')
        fake.chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "JAVA_HOME": str(tmp_path), "SPARK_HOME": "/spark"}
    plain = subprocess.run(["sh", str(ENTRYPOINT_SCRIPT), "operator", "--standalone"], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert plain.stdout.strip() == "datamesh operator --standalone"
    executor_env = {**env, "SPARK_DRIVER_URL": "spark://d:7078", "SPARK_EXECUTOR_ID": "3", "SPARK_EXECUTOR_CORES": "2",
                    "SPARK_APPLICATION_ID": "app", "SPARK_EXECUTOR_POD_IP": "10.0.0.9", "SPARK_EXECUTOR_MEMORY": "2g",
                    "SPARK_JAVA_OPT_1": "-Db=2", "SPARK_JAVA_OPT_0": "-Da=1"}  # fmt: skip
    executor = subprocess.run(["sh", str(ENTRYPOINT_SCRIPT), "executor"], env=executor_env,
                              capture_output=True, text=True)  # fmt: skip
    # JAVA_HOME/bin/java is the fake `java` above.
    assert executor.returncode == 0, executor.stderr
    out = executor.stdout.split()
    assert out[:3] == ["java", "-Da=1", "-Db=2"]
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in out
    assert out[out.index("--executor-id") + 1] == "3" and out[out.index("--driver-url") + 1] == "spark://d:7078"
