"""TensorBoard records built from what is already at hand, without importing torch: an image
from PNG bytes encoded once for both its file and TensorBoard, and a Custom Scalars layout.
Each is the same record SummaryWriter's add_image and add_custom_scalars write."""

import time
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams.api_pb2 import (
    DataType,
    Experiment,
    HParamInfo,
    MetricInfo,
    MetricName,
)
from tensorboard.plugins.hparams.metadata import EXPERIMENT_TAG, PLUGIN_DATA_VERSION, PLUGIN_NAME
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData


def image(tag: str, png: bytes, height: int, width: int) -> Summary:
    """An RGB image, from its PNG bytes."""
    picture = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=png)
    return Summary(value=[Summary.Value(tag=tag, image=picture)])


def overlaid(category: str, tags: list[str]) -> Summary:
    """A Custom Scalars layout: under `category`, one chart per tag with every run's curve of
    that tag on it."""
    charts = [
        layout_pb2.Chart(title=tag, multiline=layout_pb2.MultilineChartContent(tag=[f"^{tag}$"]))
        for tag in tags
    ]
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title=category, chart=charts)])
    tensor = TensorProto(
        dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto()
    )
    plugin = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    value = Summary.Value(tag="custom_scalars__config__", tensor=tensor, metadata=plugin)
    return Summary(value=[value])


def experiment(columns: dict[str, Any], metrics: list[str]) -> Summary:
    """The HParams plugin's experiment record: the table's columns, each setting typed as
    torch's `hparams` types a job's value of it (a number, or a string: null, true and false
    are written as typed), and the metrics. TensorBoard takes the table's columns from one such
    record in the logdir."""
    infos = [
        HParamInfo(
            name=name,
            type=DataType.DATA_TYPE_STRING
            if isinstance(value, str)
            else DataType.DATA_TYPE_FLOAT64,
        )
        for name, value in columns.items()
    ]
    record = Experiment(
        hparam_infos=infos, metric_infos=[MetricInfo(name=MetricName(tag=m)) for m in metrics]
    )
    content = HParamsPluginData(experiment=record, version=PLUGIN_DATA_VERSION)
    plugin = SummaryMetadata.PluginData(
        plugin_name=PLUGIN_NAME, content=content.SerializeToString()
    )
    return Summary(
        value=[Summary.Value(tag=EXPERIMENT_TAG, metadata=SummaryMetadata(plugin_data=plugin))]
    )


def event(summary: Summary, step: int) -> Event:
    return Event(summary=summary, step=step, wall_time=time.time())
