"""The adapter toolkit: what every adapter that speaks another wire format needs, written once.

- SSE: :class:`SSEBuffer` splits a byte stream into events, :func:`event_data` reads one,
  :func:`relay` turns an upstream's events into OpenAI's, a network read at a time, and
  delivers the events received before an error ahead of it.
- :class:`ChunkWriter` writes OpenAI ``chat.completion.chunk`` events (envelope, role opener,
  content, tool-call, finish and usage chunks) as bytes.
- :func:`~plugbay.wire.errors.from_upstream`, the one status-to-error ladder
  (:mod:`plugbay.wire.errors`).
- :func:`content_parts` and :func:`parse_data_url`: OpenAI message content as typed parts.
- Answers: :func:`json_answer`, :func:`replace_model`, :func:`embeddings_answer`, and the
  errors for answers that are not what their status says (:func:`invalid_event`,
  :func:`too_large`).

Importing it is cheap (no httpx); :class:`UpstreamClient` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay._settings import DEFAULT_MAX_RESPONSE_SIZE
from plugbay.wire._answers import (
    INVALID,
    embeddings_answer,
    invalid_event,
    json_answer,
    replace_model,
    too_large,
)
from plugbay.wire._chunks import ChunkWriter
from plugbay.wire._content import (
    AudioPart,
    ContentPart,
    DataURL,
    FilePart,
    ImagePart,
    TextPart,
    content_parts,
    parse_data_url,
)
from plugbay.wire._sse import DONE, SSEBuffer, Translator, encode_event, event_data, relay
from plugbay.wire.errors import from_upstream, upstream_error

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DONE",
    "INVALID",
    "AudioPart",
    "ChunkWriter",
    "ContentPart",
    "DataURL",
    "FilePart",
    "ImagePart",
    "SSEBuffer",
    "TextPart",
    "Translator",
    "UpstreamClient",
    "content_parts",
    "embeddings_answer",
    "encode_event",
    "event_data",
    "from_upstream",
    "invalid_event",
    "json_answer",
    "parse_data_url",
    "relay",
    "replace_model",
    "too_large",
    "upstream_error",
]

if TYPE_CHECKING:
    from plugbay._http import UpstreamClient


def __getattr__(name: str) -> object:
    # The upstream client imports httpx and aiohttp: only for the adapters that build one.
    if name == "UpstreamClient":
        from plugbay._http import UpstreamClient

        return UpstreamClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
