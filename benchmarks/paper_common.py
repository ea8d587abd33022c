"""What the paper-claim scripts share: their command line and `--set key=value` overrides."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are parsed as JSON when they can be (numbers, lists), else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def paper_parser(description: str, *, model: str, default_out: str, seed_help: str, example: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(default_out), help="Folder for the runs and the report.")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"Override a {model} config field for every run (repeatable), e.g. --set {example}.")
    parser.add_argument("--progress", action="store_true", help="Show Lightning progress bars.")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default). On busy shared CPUs 1 is often much faster.")
    return parser


def apply_threads(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
