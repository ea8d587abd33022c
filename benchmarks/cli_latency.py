"""Wall time of the describing commands (`zoo list`, `zoo info MODEL`, `zoo train MODEL --help`):
they read torch-free model cards, so each should take well under 1 s.

    python benchmarks/cli_latency.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def time_command(argv: list[str], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from zoo import registry

    zoo = [str(Path(sys.executable).with_name("zoo"))]
    commands = [["--help"], ["list"], ["train", "--help"]]
    for name in registry.names():
        commands += [["info", name], ["train", name, "--help"]]
    print("| command | median (s) | max (s) |\n| --- | --- | --- |")
    for cmd in commands:
        median, worst = time_command(zoo + cmd, args.repeat)
        print(f"| `zoo {' '.join(cmd)}` | {median:.2f} | {worst:.2f} |", flush=True)


if __name__ == "__main__":
    main()
