from __future__ import annotations

import pytest

from plugbay.wire import SSEBuffer

STREAM = b'event: a\r\ndata: {"n":1}\r\n\r\nevent: b\r\ndata: {"n":2}\r\n\r\n'
EXPECTED = [b'event: a\ndata: {"n":1}', b'event: b\ndata: {"n":2}']


@pytest.mark.parametrize("size", range(1, len(STREAM) + 1))
def test_crlf_events_whatever_the_reads(size: int) -> None:
    buffer = SSEBuffer()
    events: list[bytes] = []
    for start in range(0, len(STREAM), size):
        events += buffer.feed(STREAM[start : start + size])
    events += buffer.flush()
    assert events == EXPECTED
