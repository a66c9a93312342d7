"""The wire format: requests parse strictly, answers round-trip, errors keep their codes."""

from __future__ import annotations

import json

import pytest

from context_bot.errors import BadRequest, NotFound, RequestError, UnsupportedVersion
from context_bot.protocol import (
    Request,
    decode_push,
    decode_response,
    encode_error,
    encode_packet_request,
    encode_push,
    encode_request,
    encode_result,
    packet_request_fields,
    parse_request,
    request_id_of,
    request_identity,
)


def test_a_request_round_trips() -> None:
    request = Request(id="r1", method="file", params={"path": "a.py", "lines": [1, 2]})
    assert parse_request(encode_request(request)) == request


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("{not json", BadRequest, "not valid JSON"),
        ("[1, 2]", BadRequest, "JSON object"),
        ('{"id": 5, "method": "file"}', BadRequest, "`id`"),
        ('{"id": "", "method": "file"}', BadRequest, "`id`"),
        ('{"id": "' + "x" * 200 + '", "method": "file"}', BadRequest, "at most 128"),
        ('{"id": "a"}', BadRequest, "`method`"),
        ('{"id": "a", "method": "file", "params": [1]}', BadRequest, "`params`"),
        ('{"v": 2, "id": "a", "method": "file"}', UnsupportedVersion, "version 2"),
        ('{"v": true, "id": "a", "method": "file"}', UnsupportedVersion, "version True"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(
    body: str, error: type[RequestError], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_request(body)


def test_a_deeply_nested_request_is_refused_not_crashed() -> None:
    with pytest.raises(BadRequest):
        parse_request("[" * 100_000 + "]" * 100_000)


def test_the_id_of_a_refused_request_is_still_found_when_readable() -> None:
    assert request_id_of('{"id": "abc", "method": 3}') == "abc"
    assert request_id_of("{broken") is None
    assert request_id_of('{"id": 7}') is None


def test_results_and_errors_decode_to_what_was_encoded() -> None:
    ok = decode_response(encode_result("r1", {"text": "héllo"}))
    assert ok.id == "r1"
    assert ok.result == {"text": "héllo"}
    failed = decode_response(encode_error("r2", NotFound("no such file")))
    assert isinstance(failed.error, NotFound)
    assert failed.error.code == 4104
    assert failed.error.message == "no such file"


def test_an_unknown_error_code_still_decodes_with_its_code() -> None:
    body = json.dumps({"v": 1, "id": "x", "ok": False, "error": {"code": 4999, "message": "m"}})
    error = decode_response(body).error
    assert error is not None
    assert error.code == 4999
    assert type(error) is RequestError


def test_a_push_round_trips() -> None:
    push = decode_push(encode_push("overview", {"text": "t", "knowledge_version": "v"}))
    assert push.event == "overview"
    assert push.data["text"] == "t"


def test_our_error_codes_stay_outside_livekits_reserved_range() -> None:
    from context_bot.errors import ERRORS_BY_CODE

    assert ERRORS_BY_CODE, "the registry of codes is empty"
    assert all(not 1001 <= code <= 1999 for code in ERRORS_BY_CODE)
    assert len({cls.name for cls in ERRORS_BY_CODE.values()}) == len(ERRORS_BY_CODE)


def test_a_request_is_identified_by_what_it_asks_not_by_how_it_is_written() -> None:
    from context_bot.protocol import request_identity

    one = request_identity(
        '{"v": 1, "id": "7", "method": "list", "params": {"prefix": "a", "depth": 1}}'
    )
    same = request_identity(
        '{"params":{"depth":1,"prefix":"a"},"method":"list","id":"7","reply_to":"x"}'
    )
    other = request_identity('{"v": 1, "id": "7", "method": "overview"}')
    assert one == same
    assert one[0] == other[0] == "7"
    assert one[1] != other[1]
    assert request_identity('{"id": "7", "method": "overview", "params": null}') == other
    assert request_identity("not json")[0] is None
    assert request_identity("not json")[1] != request_identity("not jsoN")[1]


def test_every_packet_part_names_the_request_it_answers() -> None:
    from context_bot.protocol import PACKET_PART_BYTES, join_packet_parts, packet_parts

    answer = "é" * PACKET_PART_BYTES  # 2 bytes a character: several parts
    first, second = packet_parts(answer, "a"), packet_parts("x" * 10_000, "b")
    interleaved = [p for pair in zip(first, second, strict=False) for p in pair]
    interleaved += first[len(second) :] + second[len(first) :]
    by_id: dict[str, list[bytes]] = {}
    for part in interleaved:
        by_id.setdefault(json.loads(part)["id"], []).append(part)
    assert join_packet_parts(by_id["a"]) == answer
    assert join_packet_parts(by_id["b"]) == "x" * 10_000
    assert json.loads(packet_parts("{}")[0])["id"] is None
    with pytest.raises(BadRequest):
        join_packet_parts([first[0], *second[1:]])


def test_the_error_table_of_protocol_md_is_the_errors_the_bot_sends() -> None:
    import re
    from pathlib import Path

    from context_bot.errors import ERRORS_BY_CODE

    text = (Path(__file__).parents[2] / "PROTOCOL.md").read_text()
    table = text[text.index("## Error codes") :]
    documented = {int(c): n for c, n in re.findall(r"^\| (\d{4}) \| `(\w+)` \|", table, re.M)}
    assert documented == {code: cls.name for code, cls in ERRORS_BY_CODE.items()}


def test_a_packet_request_says_whom_to_answer_and_whether_as_a_stream() -> None:
    request = Request(id="7", method="file", params={"path": "a.py"})
    packet = encode_packet_request(request, "ada")
    assert packet_request_fields(packet) == ("ada", True)
    assert packet_request_fields(b'{"id": "7", "reply_to": "ada"}') == ("ada", False)
    assert packet_request_fields(b'{"reply_to": "", "answer_as": "stream"}') == (None, True)
    assert packet_request_fields(b'{"reply_to": 7, "answer_as": "packets"}') == (None, False)
    assert packet_request_fields(('{"reply_to": "%s"}' % ("x" * 129)).encode()) == (None, False)
    assert packet_request_fields(b"[1]") == (None, False)
    assert packet_request_fields(b"not json") == (None, False)
    # The same request as a stream and as a packet is one request (a resend matches it).
    assert request_identity(packet.decode()) == request_identity(encode_request(request))
