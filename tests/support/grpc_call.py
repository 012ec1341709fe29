#!/usr/bin/python3
"""A real gRPC client (grpcio) for the integration tests: one unary call of raw bytes, printed
as `code=NAME details=... key=value` (trailing metadata) on one line.

  grpc_call.py PORT METHOD [TIMEOUT_S]
"""
import sys

import grpc


def main():
    port, method = int(sys.argv[1]), sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(b"ping", timeout=timeout)
            print("code=OK", flush=True)
        except grpc.RpcError as e:
            fields = [f"code={e.code().name}", f"details={e.details()!r}"]
            fields += [f"{k}={v}" for k, v in (e.trailing_metadata() or ())]
            fields += [f"{k}={v}" for k, v in (e.initial_metadata() or ())]
            print(" ".join(fields), flush=True)


if __name__ == "__main__":
    main()
