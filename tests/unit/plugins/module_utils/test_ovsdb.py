# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_ovsdb's start-up helpers: the JSON parser on the standard library, and the schema file.

The parser is driven the way ``ovs.jsonrpc.Connection.recv`` drives ``ovs.json.Parser``: the
unparsed input is fed, what the parser took is cut off, a finished parser is replaced by a new
one for the next message. The reference is python-ovs's own pure-Python parser on the same
stream. The connection to a real ovsdb-server is in tests/host/test_ovs_safety.py.
"""

from __future__ import annotations

import json

import pytest

ovs_json = pytest.importorskip("ovs.json")

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _ovsdb  # noqa: E402
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import (  # noqa: E402
    StdlibJsonParser,
    read_local_schema,
    use_stdlib_json,
)

MESSAGES = [
    {"id": 0, "result": {"name": "Open_vSwitch", "version": "8.3.0", "tables": {"Port": {"columns": {}}}}},
    {"method": "update2", "params": ["x", {"Bridge": {"9f0c": {"insert": {"name": "br}{0", "ports": ["set", []]}}}}],
     "id": None},
    {"id": 1, "result": [{"count": 1}, {}], "error": None},
    {"id": "echo", "method": "echo", "params": ["\u00e9t\u00e9 ] [ \" \\ }"]},
    {"id": 2, "result": [[], [[]], [{}], {"a": [1.5, -2, True, False, None]}]},
]


def stream_text(separator):
    return separator.join(json.dumps(m, separators=(",", ":")) for m in MESSAGES)


def receive(make_parser, text, chunk):
    """The messages a jsonrpc connection would get from ``text`` arriving in ``chunk``-sized reads."""
    got, pending, parser = [], "", None
    for start in range(0, len(text), chunk):
        pending += text[start:start + chunk]
        while pending:
            parser = parser or make_parser()
            pending = pending[parser.feed(pending):]
            if not parser.is_done():
                break
            got.append(parser.finish())
            parser = None
    return got


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 4096, 1 << 20])
@pytest.mark.parametrize("separator", ["", "\n", " \n\t "])
def test_messages_back_to_back_in_any_chunks_are_what_ovs_parses(chunk, separator):
    text = stream_text(separator)
    assert receive(StdlibJsonParser, text, chunk) == MESSAGES
    assert receive(ovs_json.Parser, text, chunk) == MESSAGES


def test_a_message_is_taken_only_up_to_its_end():
    parser = StdlibJsonParser()
    first, second = json.dumps(MESSAGES[2]), json.dumps(MESSAGES[3])
    taken = parser.feed(first + second[:5])
    assert parser.is_done() and taken == len(first)
    assert parser.finish() == MESSAGES[2]
    assert parser.feed("more") == 0


def test_an_incomplete_message_waits_and_input_that_is_not_json_is_an_error_text():
    parser = StdlibJsonParser()
    assert parser.feed('{"id": 1, "result": [1, 2') == len('{"id": 1, "result": [1, 2')
    assert not parser.is_done()
    assert parser.feed('], "error": null}') == len('], "error": null}')
    assert parser.is_done() and parser.finish() == {"id": 1, "result": [1, 2], "error": None}
    bad = StdlibJsonParser()
    bad.feed('{"id": 1, "result": }')
    assert not bad.is_done()
    assert isinstance(bad.finish(), str)
    assert StdlibJsonParser().finish() == "empty input stream"


def test_check_trailer_takes_the_whole_text_like_ovs_from_string():
    parser = StdlibJsonParser(check_trailer=True)
    assert parser.feed('{"a": [1]}  ') == len('{"a": [1]}  ')
    assert parser.finish() == {"a": [1]}
    trailer = StdlibJsonParser(check_trailer=True)
    trailer.feed('{"a": 1} x')
    assert isinstance(trailer.finish(), str)


def test_the_stdlib_parser_replaces_only_the_pure_python_one(monkeypatch):
    monkeypatch.setattr(ovs_json, "Parser", ovs_json.Parser)
    monkeypatch.setattr(ovs_json, "PARSER", ovs_json.PARSER_C)
    use_stdlib_json()
    assert ovs_json.Parser is not StdlibJsonParser
    monkeypatch.setattr(ovs_json, "PARSER", ovs_json.PARSER_PY)
    use_stdlib_json()
    assert ovs_json.Parser is StdlibJsonParser


def test_schema_file_is_used_only_when_it_is_an_open_vswitch_schema_with_a_version(tmp_path, monkeypatch):
    good = tmp_path / "vswitch.ovsschema"
    good.write_text(json.dumps({"name": "Open_vSwitch", "version": "8.3.0", "tables": {}}))
    assert read_local_schema(str(good))["version"] == "8.3.0"
    monkeypatch.setattr(_ovsdb, "LOCAL_SCHEMA", str(good))
    assert read_local_schema()["version"] == "8.3.0"
    other = tmp_path / "other.ovsschema"
    other.write_text(json.dumps({"name": "OVN_Northbound", "version": "7.0.0", "tables": {}}))
    unversioned = tmp_path / "unversioned.ovsschema"
    unversioned.write_text(json.dumps({"name": "Open_vSwitch", "tables": {}}))
    broken = tmp_path / "broken.ovsschema"
    broken.write_text('{"name": "Open_vSwitch", ')
    for path in (other, unversioned, broken, tmp_path / "missing.ovsschema", tmp_path):
        assert read_local_schema(str(path)) is None, path
