"""One check shared by the trainer's tests: interrupt a run after some epochs, resume it, and
compare with an uninterrupted run of the same configuration (history and every tensor)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from vaelib.checkpoints import load_checkpoint
from vaelib.train import train


class Interrupt(Exception):
    """Raised from on_epoch_end to stop a run as a crash would."""


def assert_resume_is_exact(model_cfg, train_cfg, splits, folder: Path, stop_after: int) -> None:
    whole = train(model_cfg, train_cfg, folder / "whole", progress=False, data=splits, final_metrics=False)

    def stop(epoch, row):
        if epoch == stop_after:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(model_cfg, train_cfg, folder / "cut", progress=False, data=splits, on_epoch_end=stop)
    assert load_checkpoint(folder / "cut")["epoch"] == stop_after
    resumed = train(model_cfg, train_cfg, folder / "cut", progress=False, data=splits, final_metrics=False)
    pd.testing.assert_frame_equal(whole.history.drop(columns=["seconds", "train_seconds"]),
                                  resumed.history.drop(columns=["seconds", "train_seconds"]))
    for (k, a), (_, b) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
