#!/usr/bin/python3
"""A real gRPC client (grpcio) for the integration tests. One call of raw bytes, printed as
`code=NAME details=... messages=N bytes=N key=value...` (metadata) on one line.

  grpc_call.py PORT METHOD [unary|stream|bidi] [MESSAGE_BYTES] [MESSAGES]
"""
import sys

import grpc


def main():
    port, method = int(sys.argv[1]), sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "unary"
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    payload = b"p" * size
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            if kind == "unary":
                call = channel.unary_unary(method)
                replies = [call(payload, timeout=10)]
            elif kind == "stream":
                replies = list(channel.unary_stream(method)(payload, timeout=10))
            else:
                replies = list(channel.stream_stream(method)(iter([payload] * count), timeout=10))
            total = sum(len(r) for r in replies)
            print(f"code=OK messages={len(replies)} bytes={total}", flush=True)
        except grpc.RpcError as e:
            fields = [f"code={e.code().name}", f"details={e.details()!r}"]
            fields += [f"{k}={v}" for k, v in (e.trailing_metadata() or ())]
            fields += [f"{k}={v}" for k, v in (e.initial_metadata() or ())]
            print(" ".join(fields), flush=True)


if __name__ == "__main__":
    main()
