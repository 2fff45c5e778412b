"""TensorBoard records written without torch read back as the ones SummaryWriter writes."""

import io

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

from descentlab import events, figures

TAGS = ["train/loss", "val/loss", "param/w", "lr"]


def read(logdir) -> EventAccumulator:
    accumulator = EventAccumulator(str(logdir), size_guidance={"images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_image_and_layout_read_back_as_summary_writers(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    theirs = SummaryWriter(tmp_path / "theirs")
    theirs.add_image("a/picture", image, 7, dataformats="HWC")
    theirs.add_custom_scalars({"jobs overlaid": {t: ["Multiline", [f"^{t}$"]] for t in TAGS}})
    theirs.close()
    ours = EventFileWriter(str(tmp_path / "ours"))
    ours.add_event(events.event(events.image("a/picture", figures.png(image), 30, 40), 7))
    ours.add_event(events.event(events.overlaid("jobs overlaid", TAGS), 0))
    ours.close()

    got, want = read(tmp_path / "ours"), read(tmp_path / "theirs")
    (ours_image,), (their_image,) = got.Images("a/picture"), want.Images("a/picture")
    assert (ours_image.step, ours_image.width, ours_image.height) == (7, 40, 30)
    assert (their_image.width, their_image.height) == (40, 30)
    decoded = np.asarray(Image.open(io.BytesIO(ours_image.encoded_image_string)))
    assert np.array_equal(decoded, image)  # PNG is lossless: the very pixels

    def layout(accumulator: EventAccumulator) -> layout_pb2.Layout:
        (record,) = accumulator.Tensors("custom_scalars__config__")
        return layout_pb2.Layout.FromString(record.tensor_proto.string_val[0])

    assert layout(got) == layout(want)
