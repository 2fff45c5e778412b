"""TensorBoard records built from what is already at hand, without importing torch: an image
from PNG bytes encoded once for both its file and TensorBoard, a Custom Scalars layout, and
the HParams table's records. Each is the record SummaryWriter's add_image, add_custom_scalars
and torch's `hparams` write."""

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
    Status,
)
from tensorboard.plugins.hparams.metadata import (
    EXPERIMENT_TAG,
    PLUGIN_DATA_VERSION,
    PLUGIN_NAME,
    SESSION_END_INFO_TAG,
    SESSION_START_INFO_TAG,
)
from tensorboard.plugins.hparams.plugin_data_pb2 import (
    HParamsPluginData,
    SessionEndInfo,
    SessionStartInfo,
)


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
    return _hparams_record(EXPERIMENT_TAG, HParamsPluginData(experiment=record))


def failed_session(row: dict[str, int | float | str]) -> list[Summary]:
    """A failed job's HParams row: its settings, and a session that ended in failure (the
    table's Status filter). torch's `hparams` writes a finished job's, ended in success."""
    start = SessionStartInfo()
    for name, value in row.items():
        if isinstance(value, str):
            start.hparams[name].string_value = value
        else:
            start.hparams[name].number_value = value
    end = SessionEndInfo(status=Status.STATUS_FAILURE, end_time_secs=time.time())
    return [
        _hparams_record(SESSION_START_INFO_TAG, HParamsPluginData(session_start_info=start)),
        _hparams_record(SESSION_END_INFO_TAG, HParamsPluginData(session_end_info=end)),
    ]


def _hparams_record(tag: str, content: HParamsPluginData) -> Summary:
    content.version = PLUGIN_DATA_VERSION
    plugin = SummaryMetadata.PluginData(
        plugin_name=PLUGIN_NAME, content=content.SerializeToString()
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])


def event(summary: Summary, step: int) -> Event:
    return Event(summary=summary, step=step, wall_time=time.time())
