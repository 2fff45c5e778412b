"""Records checksummed in C are the very bytes TensorBoard's own checksum gives."""

import importlib.util
import io
import os
import time

from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.summary.writer import record_writer

from descentlab import checksum
from descentlab.loggers import TensorBoard


def tensorboards_masked_crc32c():
    """TensorBoard's pure-Python function, from a fresh copy of its module (installing ours
    replaces the one in the module already imported)."""
    name = "tensorboard.compat.tensorflow_stub.pywrap_reference"
    spec = importlib.util.spec_from_file_location(name, pywrap_tensorflow.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.masked_crc32c


def test_same_checksum_as_tensorboards():
    reference = tensorboards_masked_crc32c()
    assert reference is not checksum.masked_crc32c
    for data in [b"", b"123456789", os.urandom(1), os.urandom(12), os.urandom(5000)]:
        assert checksum.masked_crc32c(data) == reference(data)


def test_records_are_byte_identical(monkeypatch):
    def record(masked_crc32c) -> bytes:
        monkeypatch.setattr(record_writer, "masked_crc32c", masked_crc32c)
        out = io.BytesIO()
        record_writer.RecordWriter(out).write(payload)
        return out.getvalue()

    payload = bytes(range(256)) * 40
    assert record(checksum.masked_crc32c) == record(tensorboards_masked_crc32c())


def test_logger_installs_it_for_writer_and_reader(monkeypatch, tmp_path):
    slow = tensorboards_masked_crc32c()
    monkeypatch.setattr(record_writer, "masked_crc32c", slow)
    monkeypatch.setattr(pywrap_tensorflow, "masked_crc32c", slow)
    TensorBoard(save_dir=str(tmp_path), name="", version="", save_every=1.0)
    assert record_writer.masked_crc32c is checksum.masked_crc32c
    assert pywrap_tensorflow.masked_crc32c is checksum.masked_crc32c


def test_a_megabyte_in_milliseconds():
    data = os.urandom(2**20)
    start = time.perf_counter()
    checksum.masked_crc32c(data)
    assert time.perf_counter() - start < 0.01  # TensorBoard's: ~0.15 s


def test_left_alone_without_the_c_build(monkeypatch):
    slow = tensorboards_masked_crc32c()
    monkeypatch.setattr(record_writer, "masked_crc32c", slow)
    monkeypatch.setattr(checksum.google_crc32c, "implementation", "python")
    checksum.install()
    assert record_writer.masked_crc32c is slow
