"""TensorBoard's record checksum, computed in C.

Every record TensorBoard writes (and reads) carries a masked CRC-32C of its bytes, which
TensorBoard computes byte by byte in Python: ~150 ns a byte, on the writer's thread, holding the
GIL while training waits for it. A histogram record is a few kilobytes and a figure's tens (3 and
5 ms each); in an MLP run the histogram steps took twice as long as their binning alone.
google-crc32c computes the same CRC-32C in C.
"""

import google_crc32c
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.summary.writer import record_writer


def masked_crc32c(data: bytes) -> int:
    """What `pywrap_tensorflow.masked_crc32c(data)` returns."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # rotr(crc, 15) + delta mod 2³²


def install() -> None:
    """TensorBoard's writer and reader use `masked_crc32c` from here on in this process (where
    google-crc32c has its C build; its fallback is Python too)."""
    if google_crc32c.implementation == "c":
        record_writer.masked_crc32c = pywrap_tensorflow.masked_crc32c = masked_crc32c
