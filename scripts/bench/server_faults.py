#!/usr/bin/env python3
"""Fault harness for the server's load and fault tests (Tests/StrongroomServerTests/ServerFault*Tests.swift).
Each subcommand does one bad thing to a running `strongroom serve` on a Unix socket and prints one JSON
object on stdout describing what the server did.

  raw      --address A --method /strongroom.v1.Vault/Store --hex HEX
           sends HEX as the request message, bytes unchanged (identity serializers: no protobuf
           encoding on the client), prints {"code": "INVALID_ARGUMENT", "details": ..., "trailing": {...}}
           or {"code": "OK", "reply_bytes": N}.
  store    --address A --share ID --bytes N
           a Store whose secret is N random bytes (the client's own limits raised above N), prints the
           status as `raw` does.
  silent   --socket PATH --timeout S
           connects and sends nothing; prints {"closed": true, "after": seconds} once the server closes
           the connection (or {"closed": false} after S seconds).
  trickle  --socket PATH --timeout S --interval I
           connects and sends the HTTP/2 client preface, an empty SETTINGS frame and PING frames, one
           byte every I seconds, never opening a stream; prints like `silent` with "sent".
"""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_grpc  # noqa: E402


def status_of(call):
    import grpc

    try:
        reply = call()
        return {"code": "OK", "reply_bytes": len(reply) if isinstance(reply, (bytes, bytearray)) else reply.ByteSize()}
    except grpc.RpcError as error:
        trailing = {k: v for k, v in (error.trailing_metadata() or ()) if isinstance(v, str)}
        return {"code": error.code().name, "details": error.details() or "", "trailing": trailing}


def raw(args):
    with server_grpc.channel(args.address) as ch:
        method = ch.unary_unary(args.method, request_serializer=None, response_deserializer=None)
        payload = bytes.fromhex(args.hex)
        return status_of(lambda: method(payload, timeout=args.deadline))


def store(args):
    pb2, pb2_grpc = server_grpc.load_stubs()
    with server_grpc.channel(args.address, max_message=args.bytes + 1024 * 1024) as ch:
        stub = pb2_grpc.VaultStub(ch)
        request = pb2.StoreRequest(share_id=args.share, secret=os.urandom(args.bytes))
        return status_of(lambda: stub.Store(request, timeout=args.deadline))


def wait_closed(sock, deadline, send=None):
    started = time.monotonic()
    sent = 0
    sock.setblocking(False)
    while time.monotonic() - started < deadline:
        try:
            data = sock.recv(65536)
            if data == b"":
                return {"closed": True, "after": round(time.monotonic() - started, 3), "sent": sent}
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return {"closed": True, "after": round(time.monotonic() - started, 3), "sent": sent}
        if send is not None:
            try:
                sent += send(sock)
            except (ConnectionResetError, BrokenPipeError):
                return {"closed": True, "after": round(time.monotonic() - started, 3), "sent": sent}
        time.sleep(0.05)
    return {"closed": False, "after": round(time.monotonic() - started, 3), "sent": sent}


def silent(args):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(args.socket)
        return wait_closed(sock, args.timeout)


def trickle(args):
    # The client preface, an empty SETTINGS frame, then PING frames: all valid HTTP/2, no request ever.
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"strongrm"
    stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + ping * 256
    state = {"at": 0, "last": 0.0}

    def send(sock):
        now = time.monotonic()
        if now - state["last"] < args.interval or state["at"] >= len(stream):
            return 0
        state["last"] = now
        sock.send(stream[state["at"]:state["at"] + 1])
        state["at"] += 1
        return 1

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(args.socket)
        return wait_closed(sock, args.timeout, send)


def main():
    parser = argparse.ArgumentParser(description="Fault harness for strongroom serve")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("raw")
    p.add_argument("--address", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--hex", required=True)
    p.add_argument("--deadline", type=float, default=30)
    p = sub.add_parser("store")
    p.add_argument("--address", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--deadline", type=float, default=60)
    for name in ("silent", "trickle"):
        p = sub.add_parser(name)
        p.add_argument("--socket", required=True)
        p.add_argument("--timeout", type=float, default=30)
        if name == "trickle":
            p.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    result = {"raw": raw, "store": store, "silent": silent, "trickle": trickle}[args.command](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
