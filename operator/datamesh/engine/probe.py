"""What the benchmark asks of a warm engine: is it up, and how much CPU has it (and its JVM) used so far.

Why a module of our own: an engine is a Python process whose JVM and Python workers are its children, so its
cost is the CPU of the whole process tree, which /proc gives per live process (a parent's `cutime` counts
only children that exited). Linux only; the parsing is pure and tested.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from datamesh.build.connect import wait_for_engine


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, user + system clock ticks) from one /proc/<pid>/stat line. The command name may hold spaces and
    parentheses, so the fields are counted from its last ')'."""
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field number - 3.
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _stats(proc: str) -> Iterable[tuple[int, int, int]]:
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat"), encoding="utf-8") as stream:
                parent, ticks = parse_stat(stream.read())
        except (OSError, ValueError):  # the process ended meanwhile
            continue
        yield int(entry), parent, ticks


def tree_ticks(pid: int, stats: Iterable[tuple[int, int, int]]) -> int:
    """Clock ticks of `pid` and all its live descendants, from (pid, parent pid, ticks) rows."""
    rows = list(stats)
    children: dict[int, list[int]] = {}
    ticks = {}
    for child, parent, used in rows:
        children.setdefault(parent, []).append(child)
        ticks[child] = used
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += ticks.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def cpu_seconds(pid: int, proc: str = "/proc") -> float:
    """CPU seconds (user + system) used so far by process `pid` and its live descendants (an engine: its JVM)."""
    return tree_ticks(pid, _stats(proc)) / os.sysconf("SC_CLK_TCK")


def ready(guard_url: str, seconds: float = 240.0) -> float:
    """Wait until the engine's guard answers its probe; returns the seconds waited (BuildError after `seconds`)."""
    return wait_for_engine(guard_url.rstrip("/"), guard_url, seconds)
