"""The cache key: a hash of the canonical request.

Every field of the body counts -- model, messages, tools, tool_choice, response_format,
temperature, top_p, seed, stop, max_tokens, n, logit_bias and fields no schema knows yet
(a new parameter may change the answer, so it must change the key) -- encoded as JSON with
object keys sorted at every depth. Left out are only the fields that cannot change the
answer: ``stream`` and ``stream_options`` (a stream is replayed from a completion and vice
versa), ``user``, ``metadata`` and ``store`` (bookkeeping) and ``request_id``. The endpoint,
the provider and upstream model the public name routes to (so re-pointing a model does not
serve the old model's answers), and the key id (with ``scope = "key"``) are hashed with it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from plugbay import ChatRequest, EmbeddingsRequest, RequestContext

__all__ = ["IGNORED_FIELDS", "cache_key"]

IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "store", "request_id"})
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def cache_key(
    ctx: RequestContext, request: ChatRequest | EmbeddingsRequest, per_key: bool
) -> bytes:
    body = request.body
    if not IGNORED_FIELDS.isdisjoint(body):
        body = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    principal = ctx.principal
    owner = (principal.key_id or "") if per_key and principal is not None else ""
    material = (ctx.endpoint, ctx.provider, request.upstream_model, owner, body)
    return hashlib.blake2b(_encode_sorted(material), digest_size=20).digest()
