"""Data URLs and content parts: one parser, one set of rules (plugbay.wire)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugbay import InvalidRequest
from plugbay.wire import (
    AudioPart,
    DataURL,
    FilePart,
    ImagePart,
    TextPart,
    content_parts,
    parse_data_url,
)

MEDIA_TYPES = st.from_regex(r"\A[a-z0-9][a-z0-9.+-]{0,15}/[a-z0-9][a-z0-9.+-]{0,15}\Z")


@given(MEDIA_TYPES, st.binary(min_size=1, max_size=256))
def test_every_base64_data_url_round_trips(media_type: str, data: bytes) -> None:
    text = base64.b64encode(data).decode()
    parsed = parse_data_url(f"data:{media_type};base64,{text}")
    assert parsed == DataURL(media_type, text)
    assert parsed.decode() == data


@given(MEDIA_TYPES, st.binary(min_size=1, max_size=64))
def test_parameters_and_case_are_tolerated(media_type: str, data: bytes) -> None:
    text = base64.b64encode(data).decode()
    url = f"DATA:{media_type.upper()};name=x.bin;BASE64,{text}"
    assert parse_data_url(url) == DataURL(media_type, text)


@given(st.text(max_size=200))
def test_any_text_parses_or_is_a_400_naming_the_param(url: str) -> None:
    where = "messages[0].content[0].image_url.url"
    try:
        parsed = parse_data_url(url, where)
    except InvalidRequest as error:
        refused: InvalidRequest | None = error
    else:
        refused = None
    if refused is not None:
        assert (refused.status_code, refused.param) == (400, where)
    else:  # what passes is a media type and strict base64
        assert "/" in parsed.media_type
        assert parsed.decode()
        assert len(parsed.data) % 4 == 0


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png,raw",  # percent-encoded: refused, every vendor wants base64
        "data:image/png;base64",  # no comma
        "data:image/png;base64,",  # no data
        "data:;base64,AAAA",  # no media type
        "data:png;base64,AAAA",  # not type/subtype
        "data:image/png;base64,@@",  # not base64
        "data:image/png;base64,AAA",  # not padded
        "data:image/png;base64,AA AA",  # whitespace
        "data:image/png;base64,AAAA====",  # excess padding
        "data:image/png;base64,é",  # not ASCII
        "https://example.com/a.png",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_data_url(url, "here")
    assert caught.value.param == "here"


def test_content_parts_are_typed() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
        {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
        {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}},
    ]
    parts = content_parts(content, "messages[2].content")
    text, inline, linked, audio, pdf, by_id = parts
    assert isinstance(text, TextPart)
    assert text.text == "hi"
    assert text.raw["cache_control"] == {"type": "ephemeral"}
    assert text.param == "messages[2].content[0]"
    assert isinstance(inline, ImagePart)
    assert (inline.data, inline.url, inline.detail) == (
        DataURL("image/png", "iVBORw0KGgo="),
        None,
        "low",
    )
    assert inline.url_param == "messages[2].content[1].image_url.url"
    assert isinstance(linked, ImagePart)
    assert linked.url == "https://x/y.png"
    assert isinstance(audio, AudioPart)
    assert audio.media_type == "audio/mp3"
    assert isinstance(pdf, FilePart)
    assert pdf.data == DataURL("application/pdf", "JVBERi0=")
    assert isinstance(by_id, FilePart)
    assert (by_id.data, by_id.file_id, by_id.filename) == (None, "file-1", "a.pdf")
    assert content_parts("plain", "m") == [TextPart("plain", "m", {})]
    assert content_parts(None, "m") == []


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "text"}, "c[0].text"),
        ({"type": "image_url", "image_url": {}}, "c[0].image_url.url"),
        ({"type": "image_url", "image_url": {"url": "data:x/y;base64,@"}}, "c[0].image_url.url"),
        ({"type": "input_audio", "input_audio": {"format": "wav"}}, "c[0].input_audio"),
        ({"type": "input_audio", "input_audio": {"data": "!!"}}, "c[0].input_audio.data"),
        ({"type": "file", "file": {}}, "c[0].file.file_data"),
        ({"type": "file", "file": {"file_data": "JVBERi0="}}, "c[0].file.file_data"),
        ({"type": "file"}, "c[0].file"),
        ({"type": "video"}, "c[0].type"),
    ],
)
def test_bad_parts_name_their_param(part: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        content_parts([part], "c")
    assert caught.value.param == param
