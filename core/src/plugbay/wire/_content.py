"""OpenAI message content as typed parts, and data URLs: one parser, one set of rules.

A user message's ``content`` is a string or a list of parts; :func:`content_parts` checks
each part once and returns :class:`TextPart`, :class:`ImagePart`, :class:`AudioPart` or
:class:`FilePart`, each knowing where it was (``param``) so an adapter that cannot send one
names it in its error. Whether a kind of part is supported is the adapter's call; how a part
is read is not.

A data URL is ``data:<type>/<subtype>[;<name>=<value>]...;base64,<data>``: the media type is
required (lower-cased), the data must be non-empty, strict base64 (RFC 4648 alphabet, padded,
no whitespace). Percent-encoded data URLs are refused: every vendor wants base64, and one
rule for every adapter beats a conversion in some of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import msgspec

from plugbay._errors import InvalidRequest

__all__ = [
    "AudioPart",
    "ContentPart",
    "DataURL",
    "FilePart",
    "ImagePart",
    "TextPart",
    "content_parts",
    "parse_data_url",
]

_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_DATA_URL_SHAPE = "`data:<media type>;base64,<data>`"


class DataURL(msgspec.Struct, frozen=True):
    """A parsed ``data:`` URL: its media type and its base64 text (checked, as sent)."""

    media_type: str
    data: str

    def decode(self) -> bytes:
        return base64.b64decode(self.data)


def parse_data_url(url: str, param: str | None = None) -> DataURL:
    """The media type and base64 data of ``url``; an :class:`~plugbay.InvalidRequest`
    naming ``param`` if it is not a base64 data URL with a media type."""
    if url[:5].lower() != "data:":
        raise InvalidRequest(f"Expected a data URL: {_DATA_URL_SHAPE}.", param=param)
    header, comma, data = url[5:].partition(",")
    fields = header.split(";")
    if not comma or len(fields) < 2 or fields[-1].strip().lower() != "base64":
        raise InvalidRequest(f"A data URL must be base64-encoded: {_DATA_URL_SHAPE}.", param=param)
    media_type = fields[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise InvalidRequest(
            f"A data URL must name its media type: {_DATA_URL_SHAPE}.", param=param
        )
    if not data:
        raise InvalidRequest("The data URL holds no data.", param=param)
    check_base64(data, param)
    return DataURL(media_type, data)


def check_base64(data: str, param: str | None) -> None:
    """Raise an :class:`~plugbay.InvalidRequest` unless ``data`` is strict base64."""
    try:
        # strict_mode refuses characters outside the alphabet and padding in the middle; it
        # lets excess padding at the end through.
        binascii.a2b_base64(data, strict_mode=True)
        valid = len(data) % 4 == 0 and not data.endswith("===")
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        valid = False
    if not valid:
        raise InvalidRequest("The data is not valid base64.", param=param)


class TextPart(msgspec.Struct, frozen=True):
    text: str
    param: str
    """Where the part is in the request (``messages[0].content[1]``)."""
    raw: dict[str, Any]
    """The part as the client sent it (vendor extras such as ``cache_control``)."""


class ImagePart(msgspec.Struct, frozen=True):
    """An image: inline (``data``) or by URL (``url``, scheme unchecked: adapters differ)."""

    url: str | None
    data: DataURL | None
    detail: str | None
    param: str
    raw: dict[str, Any]

    @property
    def url_param(self) -> str:
        return f"{self.param}.image_url.url"


class AudioPart(msgspec.Struct, frozen=True):
    """``input_audio``: base64 ``data`` (checked) in ``format`` (``wav``, ``mp3``...)."""

    data: str
    format: str
    param: str
    raw: dict[str, Any]

    @property
    def media_type(self) -> str:
        return f"audio/{self.format}"


class FilePart(msgspec.Struct, frozen=True):
    """A file: inline (``data``, from ``file_data``) or by id (``file_id``)."""

    data: DataURL | None
    file_id: str | None
    filename: str | None
    param: str
    raw: dict[str, Any]


ContentPart = TextPart | ImagePart | AudioPart | FilePart


def content_parts(content: str | list[dict[str, Any]] | None, where: str) -> list[ContentPart]:
    """The typed parts of a message's ``content`` (``where`` is its param:
    ``messages[0].content``); a string is one text part, ``None`` none."""
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content, where, {})]
    return [_part(part, f"{where}[{j}]") for j, part in enumerate(content)]


def _part(part: dict[str, Any], at: str) -> ContentPart:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("A text part needs a `text` string.", param=f"{at}.text")
        return TextPart(text, at, part)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise InvalidRequest("An image part needs a `url`.", param=f"{at}.image_url.url")
        detail = image.get("detail") if isinstance(image, dict) else None
        detail = detail if isinstance(detail, str) else None
        if url[:5].lower() == "data:":
            return ImagePart(None, parse_data_url(url, f"{at}.image_url.url"), detail, at, part)
        return ImagePart(url, None, detail, at, part)
    if kind == "input_audio":
        audio = part.get("input_audio")
        data = audio.get("data") if isinstance(audio, dict) else None
        if not isinstance(data, str) or not data:
            raise InvalidRequest("`input_audio` needs `data`.", param=f"{at}.input_audio")
        check_base64(data, f"{at}.input_audio.data")
        fmt = audio.get("format") if isinstance(audio, dict) else None
        return AudioPart(data, fmt if isinstance(fmt, str) and fmt else "wav", at, part)
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise InvalidRequest("A file part needs a `file` object.", param=f"{at}.file")
        file_data, file_id, filename = (
            file.get("file_data"),
            file.get("file_id"),
            file.get("filename"),
        )
        inline = None
        if isinstance(file_data, str) and file_data:
            inline = parse_data_url(file_data, f"{at}.file.file_data")
        elif not isinstance(file_id, str) or not file_id:
            raise InvalidRequest(
                "A file part needs `file_data` (a data URL) or a `file_id`.",
                param=f"{at}.file.file_data",
            )
        return FilePart(
            inline,
            file_id if isinstance(file_id, str) and file_id else None,
            filename if isinstance(filename, str) else None,
            at,
            part,
        )
    raise InvalidRequest(f"Content parts of type `{kind}` are not supported.", param=f"{at}.type")
