"""A time budget for a transformers / sentence-transformers training run.

Machines of the fleet are 2-4x apart in speed, and ``hotline train --encoder``
must finish within its hour on the slow ones too. :class:`TimeBudget` ends
training once its budget has passed since the first step began: the steps left
are skipped (the learning rate then stops part-way down its decay), the model
trained so far is kept, and the caller records how far it got.
"""
from __future__ import annotations

import time

from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    def __init__(self, seconds: float | None, clock=time.monotonic):
        if seconds is not None and seconds <= 0:
            raise ValueError(f"time budget {seconds!r}: expected a positive number of seconds")
        self.seconds = seconds
        self.clock = clock
        self.started: float | None = None
        self.stopped_at: int | None = None   # the step training ended at, when the budget ended it

    def on_step_begin(self, args, state, control, **kwargs):
        if self.started is None:
            self.started = self.clock()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if (self.seconds is not None and self.started is not None
                and state.global_step < state.max_steps
                and self.clock() - self.started >= self.seconds):
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control
