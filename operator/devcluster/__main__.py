"""`python -m devcluster up|down|status|env [--dir .devcluster]`: the local control plane."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devcluster import binaries
from devcluster.cluster import ControlPlane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    parser.add_argument("--dir", default=".devcluster", help="state folder (default: .devcluster)")
    parser.add_argument("--no-node", action="store_true", help="control plane only (no node: pods stay Pending)")
    args = parser.parse_args(argv)
    plane = ControlPlane(Path(args.dir), with_node=not args.no_node)
    if args.action == "build":
        print(binaries.ensure_built())
    elif args.action == "up":
        plane.up()
    elif args.action == "down":
        plane.down()
    else:
        running = plane.is_running()
        print(f"{'running' if running else 'stopped'}; KUBECONFIG={plane.kubeconfig}")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
