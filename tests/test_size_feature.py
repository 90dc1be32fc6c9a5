"""com.gaia.size-from: parsing the annotation and reading a request's size without running user code."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from gaia_faas.gateway_plugin.size_feature import (
    JSON_PREFIX_BYTES, SizeFromError, SizeSource, parse_size_from, size_from_head, size_from_json_prefix)


@pytest.mark.parametrize("raw, expected", [
    ("body-bytes", SizeSource("body-bytes")),
    (" header:X-Matrix-Size ", SizeSource("header", "X-Matrix-Size")),
    ("query:n", SizeSource("query", "n")),
    ("json:tokens", SizeSource("json", "tokens")),
])
def test_annotation_forms(raw, expected):
    assert parse_size_from(raw) == expected


@pytest.mark.parametrize("raw", ["", "bytes", "json:", "header:bad name", "xml:n", "query:a b", 'json:"x"', "body-bytes:1"])
def test_bad_annotation_is_a_one_line_error_naming_the_forms(raw):
    with pytest.raises(SizeFromError) as info:
        parse_size_from(raw)
    assert "com.gaia.size-from" in str(info.value) and "\n" not in str(info.value)


def test_size_from_headers_and_query():
    headers = CIMultiDict({"Content-Length": "2048", "x-size": "12.5", "X-Bad": "nan"})
    assert size_from_head(SizeSource("body-bytes"), headers, "") == 2048
    assert size_from_head(SizeSource("body-bytes"), CIMultiDict(), "") is None  # chunked: length unknown
    assert size_from_head(SizeSource("header", "X-Size"), headers, "") == 12.5
    assert size_from_head(SizeSource("header", "X-Bad"), headers, "") is None
    assert size_from_head(SizeSource("header", "X-None"), headers, "") is None
    assert size_from_head(SizeSource("query", "n"), headers, "a=1&n=3000&n=4") == 3000
    assert size_from_head(SizeSource("query", "n"), headers, "a=1&n=-3") is None
    assert size_from_head(SizeSource("query", "n"), headers, "n=%33%30") == 30


def test_json_whole_body():
    body = json.dumps({"prompt": "x" * 100, "size": 2800, "nested": {"size": 1}}).encode()
    assert size_from_json_prefix("size", body, complete=True) == 2800
    assert size_from_json_prefix("size", b'{"size": true}', complete=True) is None
    assert size_from_json_prefix("size", b'{"size": "12"}', complete=True) is None
    assert size_from_json_prefix("size", b'[{"size": 12}]', complete=True) is None
    assert size_from_json_prefix("size", b'{"size": 12, }', complete=True) is None  # does not parse: no size
    assert size_from_json_prefix("size", b'{"other": 1}', complete=True) is None


def test_json_prefix_reads_members_up_to_the_field():
    body = json.dumps({"model": "m", "options": {"a": [1, 2, {"b": "}"}]}, "tokens": 517, "text": "y" * 200_000}).encode()
    prefix = body[:JSON_PREFIX_BYTES]
    assert size_from_json_prefix("tokens", prefix, complete=False) == 517
    # The field beyond the prefix, a value cut by the prefix, a number the prefix may have cut short.
    late = json.dumps({"text": "y" * 200_000, "tokens": 5}).encode()
    assert size_from_json_prefix("tokens", late[:JSON_PREFIX_BYTES], complete=False) is None
    assert size_from_json_prefix("tokens", b'{"tokens": 51', complete=False) is None
    assert size_from_json_prefix("tokens", b'{"a": 1 "tokens": 5,', complete=False) is None  # missing comma
    assert size_from_json_prefix("tokens", b'  {"tokens" : 7e2 , "x"', complete=False) == 700


def test_json_prefix_tolerates_only_a_character_cut_at_its_end():
    body = '{"name": "\u00e9\u00e9", "n": 3, "x": "\u00e9'.encode()
    assert size_from_json_prefix("n", body[:-1], complete=False) == 3
    assert size_from_json_prefix("n", b'{"name": "\xff", "n": 3, "x": 1', complete=False) is None
