#!/usr/bin/env python3
"""Writes the seed corpora under Tests/Fuzz/Corpus/ (checked in; rerun after a schema change).

Each seed is a small valid input in the target's own format (see each harness for its control
byte): protobuf encodings of every request method, frame streams carrying them, provider SSE
streams and JSON bodies, and the bundled model catalogue with a few smaller variants.
"""
import json
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Corpus")


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, value):
    """A protobuf field: ints as varints, floats as fixed32, bytes/str and nested messages length-delimited."""
    if isinstance(value, bool) or isinstance(value, int):
        return varint(number << 3) + varint(int(value))
    if isinstance(value, float):
        return varint(number << 3 | 5) + struct.pack("<f", value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def message(*fields):
    return b"".join(field(number, value) for number, value in fields)


credentials = message((1, "plt_3xAmPlEkEy0123456789abcdef"), (2, "admin-token"))
chat = [message((1, "system"), (2, "Answer in one word.")), message((1, "user"), (2, "Write a Python function that sorts a list."))]
route = message((1, credentials), *[(2, m) for m in chat], (3, "auto"), (4, 3), (5, 256), (6, "code"), (7, "groq"), (7, "together"))
complete = message((1, credentials), *[(2, m) for m in chat], (3, "llama-3.3-70b-instruct"), (4, 2), (5, 4096),
                   (6, 0.7), (7, 0.9), (8, "\n\n"), (8, "END"), (9, "qa"), (10, "fireworks"))
usage = message((1, credentials), (2, "acct_1"), (3, 20000), (4, 20030), (5, 0), (5, 2), (6, True), (7, "cursor"), (8, 100))
account_record = message((1, "acct_1"), (2, "Ada"), (3, "ada@example.com"), (7, "pro"), (9, 5_000_000), (10, 600))
accounts = [
    message((1, credentials), (2, account_record)),
    message((1, credentials), (3, "")),
    message((1, credentials), (4, "ada@example.com")),
    message((1, credentials), (5, account_record)),
    message((1, credentials), (6, "acct_1")),
    message((1, credentials), (7, message((1, "acct_1"), (2, "ci key")))),
    message((1, credentials), (8, "key_1")),
    message((1, credentials), (9, "acct_1")),
    message((1, credentials), (10, message((1, "cursor"), (2, 50)))),
    message((1, credentials), (11, "acct_1")),
    message((1, credentials), (12, b"")),
    message((1, credentials), (13, message((1, "acct_1"), (2, "cursor"), (3, 1000)))),
]
health = message((1, credentials))
requests = [(1, route), (2, complete), (3, usage), *[(4, a) for a in accounts], (5, health), (5, b"")]


def frame(kind, payload=b"", flags=0, method=0, stream=0, value=0):
    return struct.pack(">IBBHII", len(payload), kind, flags, method, stream, value) + payload


PREFACE = b"PLT\x01"


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as file:
        file.write(data)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)

    for index, (method, payload) in enumerate(requests):
        write("requests", f"method{method}-{index:02}", bytes([method - 1]) + payload)

    # frames: control byte (chunk size, limit, shutdown point), then the stream.
    write("frames", "preface", b"\x07" + PREFACE)
    write("frames", "ping", b"\x07" + PREFACE + frame(6, b"12345678") + frame(7))
    calls = b"".join(frame(1, payload, flags=1 if method == 2 else 0, method=method, stream=index + 1, value=1000)
                     for index, (method, payload) in enumerate(requests))
    write("frames", "every-method", b"\x06" + PREFACE + calls)
    write("frames", "cancel", b"\x01" + PREFACE + frame(1, complete, 1, 2, 7) + frame(5, stream=7) + frame(5, stream=7))
    write("frames", "limit", b"\x07" + PREFACE + b"".join(frame(1, health, 0, 3, stream) for stream in range(1, 7)))
    write("frames", "shutdown", b"\x27" + PREFACE + frame(1, route, 0, 1, 1) + frame(1, usage, 0, 3, 2) + frame(1, health, 0, 5, 3))
    write("frames", "errors", b"\x0f" + PREFACE + frame(1, b"x" * 65, 0, 1, 1) + frame(9) + frame(1, health, 0, 5, 0))
    write("frames", "other-version", b"\x00PLT\x02")

    # sse: control byte (chunk size, small event limit), then the stream.
    def chunk(text, finish="null", usage=""):
        return ('{"id":"c1","object":"chat.completion.chunk","model":"llama-3.3-70b","choices":[{"index":0,'
                '"delta":{"content":"%s"},"finish_reason":%s}]%s}' % (text, finish, usage))
    usage_json = ',"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}'
    stream = "".join(f"data: {chunk(t)}\n\n" for t in ["Hel", "lo", " w\\u00f6rld"])
    stream += "data: " + chunk("", '"stop"', usage_json) + "\n\ndata: [DONE]\n\n"
    write("sse", "openai-stream", b"\x07" + stream.encode())
    write("sse", "crlf-comments", b"\x01" + b"\xef\xbb\xbf: keep-alive\r\nevent: x\r\ndata: a\r\ndata: b\r\nid: 1\r\n\r\ndata:[DONE]\r\n\r\n")
    write("sse", "cr-only", b"\x02data: one\rdata: two\r\r:comment\rdata: three")
    write("sse", "over-limit", b"\x0b" + b"data: " + b"x" * 40 + b"\n\n")

    # provider-json: control byte (chunk size bits 0-1, stream bit 2, status bits 3-5,
    # JSON content type bit 6, accumulate bit 7), then the body.
    completion = ('{"id":"c1","object":"chat.completion","created":1,"model":"llama-3.3-70b","choices":[{"index":0,'
                  '"message":{"role":"assistant","content":"Hello \\ud83d\\ude80"},"finish_reason":"stop"}],'
                  '"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}')
    write("provider-json", "completion", bytes([0x43]) + completion.encode())
    write("provider-json", "stream", bytes([0x86]) + stream.encode())
    write("provider-json", "stream-as-json", bytes([0x46]) + completion.encode())
    error = '{"error":{"message":"Rate limit reached","type":"rate_limit","code":"rate_limit_exceeded"}}'
    write("provider-json", "rate-limited", bytes([0x40 | 2 << 3 | 2]) + error.encode())
    write("provider-json", "server-error", bytes([0x40 | 3 << 3 | 3]) + b"<html>502 Bad Gateway</html>")
    write("provider-json", "numbers", bytes([0x43]) + b'{"choices":[{"message":{"content":""},"finish_reason":null}],'
          b'"usage":{"prompt_tokens":1e2,"completion_tokens":-0.5e-3},"model":"m","extra":[true,false,null,{}]}')

    # catalogue: the bundled file, and one model of it alone.
    bundled = open(os.path.join(ROOT, "..", "..", "Sources", "PelletRouter", "Resources", "catalogue.json"), "rb").read()
    write("catalogue", "bundled", bundled)
    document = json.loads(bundled)
    document["models"] = document["models"][:1]
    write("catalogue", "one-model", json.dumps(document, indent=1).encode())
    write("catalogue", "escapes", b'{"schema_version": 1, "prices_read": "2026-11-28", "notes": "\\u00e9\\ud83d\\ude80\\n",'
          b' "price_sources": [], "models": [{"id": "x", "offers": [], "quality": {"code": 1.5e-1}}]}')


if __name__ == "__main__":
    main()
