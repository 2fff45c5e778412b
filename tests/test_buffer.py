"""StepBuffer: what add_scalar would write, as one event per step."""

import math

import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch.utils.tensorboard import SummaryWriter

from conftest import scalars
from descentlab.callbacks.buffer import StepBuffer


def test_a_flush_writes_one_event_per_step_with_every_finite_value(tmp_path):
    rows = torch.tensor([[1.0, 2.0], [3.0, math.inf], [math.nan, math.nan], [5.0, 6.0]])
    buffer = StepBuffer(["a", "b"], size=4, device=torch.device("cpu"), first_step=10)
    for row in rows:
        buffer.row.copy_(row)
        buffer.advance()
    writer = SummaryWriter(tmp_path)
    buffer.flush(writer)
    writer.close()

    # the same points as one add_scalar per finite value
    assert scalars(tmp_path) == {
        "a": [(10, 1.0), (11, 3.0), (13, 5.0)],
        "b": [(10, 2.0), (13, 6.0)],
    }
    (events_file,) = tmp_path.glob("events.out.tfevents.*")
    events = [e for e in EventFileLoader(str(events_file)).Load() if e.HasField("summary")]
    assert [(e.step, len(e.summary.value)) for e in events] == [(10, 2), (11, 1), (13, 2)]
    assert buffer.rows == 0 and buffer.first_step == 14  # ready for the next steps
