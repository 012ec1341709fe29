#!/usr/bin/python3
"""An HTTP/2 client built on Python's h2 (hyper-h2), for the integration tests: a real HTTP/2
implementation that is not sluice's. It prints one line per outcome, `key=value` separated by
spaces, which the tests read.

  h2_peer.py PORT requests SPEC...   streams opened together on one connection; SPEC is
                                     METHOD:PATH[:header=value,...][:body=N][:reset_ms=N][:trailer.NAME=VALUE][:open]
                                     (open: the request's end is never sent)
  h2_peer.py PORT rapid_reset N      N streams opened and reset at once
  h2_peer.py PORT ping_flood N       N PINGs sent without reading the acknowledgements
  h2_peer.py PORT continuation_flood N   one HEADERS and N CONTINUATION frames, never ended
  h2_peer.py PORT settings_flood N   N SETTINGS frames without reading the acknowledgements
  h2_peer.py PORT stall PATH         a request whose response the client's window never admits
  h2_peer.py PORT two_apart PATH1 PATH2 FILE   two requests on one connection, the second once
                                     FILE exists

Every run is bounded: the socket times out after 10 seconds.
"""
import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

TIMEOUT_S = 10


def connect(port, receive_buffer=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        # A client that reads nothing and has no room: what the server answers piles up.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(TIMEOUT_S)
    sock.connect(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def parse_spec(spec):
    parts = spec.split(":")
    method, path = parts[0], parts[1]
    headers, body, reset_ms, trailers, left_open = [], b"", None, [], False
    for part in parts[2:]:
        if part == "open":
            left_open = True
        elif part.startswith("trailer."):
            name, value = part[8:].split("=", 1)
            trailers.append((name, value))
        elif part.startswith("body="):
            body = b"x" * int(part[5:])
        elif part.startswith("reset_ms="):
            reset_ms = int(part[9:])
        elif part:
            for item in part.split(","):
                name, value = item.split("=", 1)
                headers.append((name, value))
    return method, path, headers, body, reset_ms, trailers, left_open


def report_goaway(event):
    print(f"goaway error={int(event.error_code)} last_stream={event.last_stream_id}", flush=True)


def requests(port, specs):
    sock, conn = connect(port)
    streams = {}
    resets = []  # (when, stream id)
    start = time.monotonic()
    for spec in specs:
        method, path, headers, body, reset_ms, trailers, left_open = parse_spec(spec)
        sid = conn.get_next_available_stream_id()
        request = [(":method", method), (":path", path), (":scheme", "http"),
                   (":authority", f"127.0.0.1:{port}")] + headers
        conn.send_headers(sid, request, end_stream=not body and not left_open)
        if body:
            pending = body
            while pending:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room <= 0:
                    break  # the rest waits for a window update
                last = len(pending) <= room
                conn.send_data(sid, pending[:room], end_stream=last and not trailers)
                pending = pending[room:]
            if not pending and trailers:
                conn.send_headers(sid, trailers, end_stream=True)
            streams_body_left = pending
        else:
            streams_body_left = b""
        streams[sid] = {"status": None, "headers": {}, "trailers": {}, "body": 0, "reset": None,
                        "ended": False, "left": streams_body_left, "spec": spec,
                        "elapsed_ms": None}
        if reset_ms is not None:
            resets.append((start + reset_ms / 1000.0, sid))
    sock.sendall(conn.data_to_send())

    def open_streams():
        return [s for s in streams.values() if not s["ended"] and s["reset"] is None]

    goaway = False
    while open_streams() and not goaway:
        now = time.monotonic()
        for when, sid in list(resets):
            if now >= when:
                resets.remove((when, sid))
                if streams[sid]["reset"] is None and not streams[sid]["ended"]:
                    conn.reset_stream(sid)
                    streams[sid]["reset"] = "sent"
                    sock.sendall(conn.data_to_send())
        if not open_streams():
            break
        wait = min([w for w, _ in resets], default=now + TIMEOUT_S) - now
        sock.settimeout(max(0.001, min(wait, TIMEOUT_S)))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            if not resets:
                print("timeout", flush=True)
                break
            continue
        if not data:
            print("closed", flush=True)
            break
        for event in conn.receive_data(data):
            sid = getattr(event, "stream_id", None)
            s = streams.get(sid)
            if isinstance(event, h2.events.ResponseReceived):
                s["headers"] = dict(event.headers)
                s["status"] = s["headers"].get(":status")
            elif isinstance(event, h2.events.TrailersReceived):
                s["trailers"] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                s["body"] += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded):
                s["ended"] = True
                s["elapsed_ms"] = int((time.monotonic() - start) * 1000)
            elif isinstance(event, h2.events.StreamReset):
                s["reset"] = int(event.error_code)
            elif isinstance(event, h2.events.WindowUpdated):
                for wsid, ws in streams.items():
                    while ws["left"] and conn.local_flow_control_window(wsid) > 0:
                        room = min(conn.local_flow_control_window(wsid),
                                   conn.max_outbound_frame_size)
                        chunk, ws["left"] = ws["left"][:room], ws["left"][room:]
                        conn.send_data(wsid, chunk, end_stream=not ws["left"])
            elif isinstance(event, h2.events.ConnectionTerminated):
                report_goaway(event)
                # Streams the server took (up to last_stream_id) may still finish; a GOAWAY
                # with an error ends them all.
                for sid, st in streams.items():
                    if event.error_code != 0 or sid > event.last_stream_id:
                        if not st["ended"] and st["reset"] is None:
                            st["reset"] = "goaway"
                goaway = not open_streams()
        try:
            sock.sendall(conn.data_to_send())
        except h2.exceptions.ProtocolError:
            pass

    for sid, s in sorted(streams.items()):
        fields = [f"stream={sid}", f"spec={s['spec']}", f"status={s['status']}",
                  f"body={s['body']}", f"reset={s['reset']}", f"elapsed_ms={s['elapsed_ms']}"]
        for name, value in sorted(s["headers"].items()):
            if not name.startswith(":"):
                fields.append(f"h.{name}={value.replace(' ', '_')}")
        for name, value in sorted(s["trailers"].items()):
            fields.append(f"t.{name}={value.replace(' ', '_')}")
        print(" ".join(fields), flush=True)
    sock.close()


def read_until_goaway(sock, conn):
    """Reads until the server's GOAWAY or close; prints what ended the connection."""
    sock.settimeout(TIMEOUT_S)
    while True:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError) as e:
            print(f"ended {type(e).__name__}", flush=True)
            return
        if not data:
            print("closed", flush=True)
            return
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            continue
        for event in events:
            if isinstance(event, h2.events.ConnectionTerminated):
                report_goaway(event)
                return


def rapid_reset(port, n):
    sock, conn = connect(port)
    try:
        for _ in range(n):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":path", "/"), (":scheme", "http"),
                                    (":authority", f"127.0.0.1:{port}")])
            conn.reset_stream(sid)
            sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError):
        pass
    read_until_goaway(sock, conn)


def raw_flood(port, frame, n):
    sock, conn = connect(port, receive_buffer=4096)
    try:
        for _ in range(n // 100):
            sock.sendall(frame * 100)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    read_until_goaway(sock, conn)


def stall(port, path):
    """A client that never opens its window: prints how its stream ended."""
    sock, conn = connect(port)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    conn.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"),
                          (":authority", f"127.0.0.1:{port}")], end_stream=True)
    sock.sendall(conn.data_to_send())
    start = time.monotonic()
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            print("timeout", flush=True)
            return
        if not data:
            print("closed", flush=True)
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.StreamReset):
                elapsed = int((time.monotonic() - start) * 1000)
                print(f"reset code={int(event.error_code)} after_ms={elapsed}", flush=True)
                return
        sock.sendall(conn.data_to_send())


def one_response(sock, conn, sid):
    """Reads until stream `sid` ends; returns its status and body."""
    status, body = None, b""
    while True:
        data = sock.recv(65536)
        if not data:
            return status, body
        for event in conn.receive_data(data):
            if getattr(event, "stream_id", None) != sid:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(":status")
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded):
                sock.sendall(conn.data_to_send())
                return status, body
        sock.sendall(conn.data_to_send())


def two_apart(port, first, second, go_file):
    """One connection, two requests: the second once `go_file` exists (at most 10 s later)."""
    sock, conn = connect(port)
    for sid, path in ((1, first), (3, second)):
        if sid == 3:
            deadline = time.monotonic() + TIMEOUT_S
            while not os.path.exists(go_file) and time.monotonic() < deadline:
                time.sleep(0.01)
        conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", f"127.0.0.1:{port}")], end_stream=True)
        sock.sendall(conn.data_to_send())
        status, body = one_response(sock, conn, sid)
        print(f"stream={sid} status={status} body={body.decode(errors='replace').strip()}",
              flush=True)


def frame(kind, flags, stream_id, payload):
    return (len(payload).to_bytes(3, "big") + bytes([kind, flags]) +
            stream_id.to_bytes(4, "big") + payload)


def continuation_flood(port, n):
    sock, conn = connect(port)
    headers = frame(0x1, 0x0, 1, b"\x82\x86\x84")  # HEADERS: GET http / , without END_HEADERS
    continuation = frame(0x9, 0x0, 1, b"\x40\x01a\x01b")  # a: b, again and again
    try:
        sock.sendall(headers)
        for _ in range(n // 100):
            sock.sendall(continuation * 100)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    read_until_goaway(sock, conn)


def main():
    port, mode, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if mode == "requests":
        requests(port, args)
    elif mode == "rapid_reset":
        rapid_reset(port, int(args[0]))
    elif mode == "ping_flood":
        raw_flood(port, frame(0x6, 0x0, 0, b"12345678"), int(args[0]))
    elif mode == "settings_flood":
        raw_flood(port, frame(0x4, 0x0, 0, b""), int(args[0]))
    elif mode == "two_apart":
        two_apart(port, args[0], args[1], args[2])
    elif mode == "stall":
        stall(port, args[0])
    elif mode == "continuation_flood":
        continuation_flood(port, int(args[0]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
