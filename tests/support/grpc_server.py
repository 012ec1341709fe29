#!/usr/bin/python3
"""A real gRPC server (grpcio): the integration tests' upstream, and the README's demo.

  grpc_server.py          on 127.0.0.1:0; prints `port=N` once serving, and stops by itself
                          when its standard input closes (or after 120 seconds)
  grpc_server.py PORT     on 127.0.0.1:PORT until interrupted
  ... --tls CERT KEY      over TLS (ALPN h2) with that certificate and key

Methods, on raw bytes (no protobuf):
  /test.Echo/Unary    the request back
  /test.Echo/Stream   the request back 3 times (server streaming)
  /test.Echo/Bidi     every request message back (bidirectional streaming)
  /test.Echo/Fail     fails with PERMISSION_DENIED and a message
"""
import sys
import threading
from concurrent import futures

import grpc


def unary(request, context):
    return request


def stream(request, context):
    for _ in range(3):
        yield request


def bidi(requests, context):
    for request in requests:
        yield request


def fail(request, context):
    context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")


HANDLERS = {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "Stream": grpc.unary_stream_rpc_method_handler(stream),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    "Fail": grpc.unary_unary_rpc_method_handler(fail),
}


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", HANDLERS),))
    args = sys.argv[1:]
    tls = None
    if "--tls" in args:
        at = args.index("--tls")
        cert, key = args[at + 1], args[at + 2]
        del args[at:at + 3]
        with open(cert, "rb") as c, open(key, "rb") as k:
            tls = grpc.ssl_server_credentials([(k.read(), c.read())])
    fixed = len(args) > 0
    address = f"127.0.0.1:{args[0] if fixed else 0}"
    port = server.add_secure_port(address, tls) if tls else server.add_insecure_port(address)
    server.start()
    print(f"port={port}", flush=True)
    if fixed:
        server.wait_for_termination()
        return
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(timeout=120)
    server.stop(grace=None)


if __name__ == "__main__":
    main()
