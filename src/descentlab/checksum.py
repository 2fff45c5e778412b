"""TensorBoard's record checksum, computed in C.

Every record TensorBoard writes (and reads) carries a masked CRC-32C of its bytes, which
TensorBoard computes byte by byte in Python: ~150 ns a byte, on the writer's thread, holding the
GIL. A histogram of a million values is a 9 KB record (1.3 ms), a figure tens of KB (5 ms per
35 KB), and each time the training thread releases the GIL in between it waits to get it back:
the MLP's 12 histograms took 58 ms a histogram step with it, 26 ms without. google-crc32c
computes the same CRC-32C in C.
"""

import warnings

with warnings.catch_warnings():  # its warning when it has no C build; TensorBoard's is kept then
    warnings.simplefilter("ignore", RuntimeWarning)
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
