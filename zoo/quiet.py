"""Training output without noise a user did not ask for: Lightning's tips and "GPU available: False"
lines (INFO logs) and library warnings are hidden unless `zoo train --verbose`."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

NOISY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")


@contextlib.contextmanager
def quiet_training(verbose: bool = False) -> Iterator[None]:
    """Inside: Lightning loggers at WARNING and warnings ignored, unless ``verbose``; restored after."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
