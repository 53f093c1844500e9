#!/usr/bin/env python3
"""http_server.py - a tiny HTTP server for tests/test_download.c (no network needed).

Serves one deterministic payload. The first path component picks the behaviour, the rest of
the path is ignored (so /ok/<sha>/tiny.en.pt works as a --base-url of /ok):
  /ok         the payload, honouring "Range: bytes=N-" (206 + Content-Range; 416 past the end)
  /truncated  like /ok, but a request without Range gets half the body, then the connection
              closes (Content-Length still says the full size); a Range request is served whole
  /norange    like /ok, but Range is ignored (always 200 and the whole payload)
  /corrupt    the payload with one byte changed (a sha256 mismatch)
  /slow       sends the headers, then trickles 64 bytes every 0.5 s
  /404, /500  those errors
Prints "PORT <port> PID <pid> SIZE <bytes>" on stdout once listening, then appends one line per
request, "<method> <path> range=<Range header or ->", to the log file given as --log.
"""
import argparse
import http.server
import os
import sys
import time


def make_payload(size):
    # a simple byte pattern that is not periodic over short spans
    return bytes(((i * 2654435761) >> 13) & 0xFF for i in range(size))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: our own log below
        pass

    def log_request_line(self):
        with open(self.server.log_path, "a") as f:
            f.write("%s %s range=%s\n" % (self.command, self.path, self.headers.get("Range", "-")))

    def parse_range(self, size):
        r = self.headers.get("Range")
        if not r or not r.startswith("bytes="):
            return None
        start = r[len("bytes="):].split("-")[0]
        return int(start) if start.isdigit() else None

    def send_body_headers(self, code, length, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def do_GET(self):
        self.log_request_line()
        mode = self.path.strip("/").split("/")[0]
        data = self.server.payload
        size = len(data)
        if mode in ("404", "500"):
            self.send_error(int(mode))
            return
        if mode == "corrupt":
            data = bytearray(data)
            data[size // 3] ^= 0x5A
            data = bytes(data)
        elif mode not in ("ok", "truncated", "slow", "norange"):
            self.send_error(404)
            return
        start = None if mode == "norange" else self.parse_range(size)
        if start is not None and start >= size:
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start is None:
            self.send_body_headers(200, size)
            start = 0
        else:
            self.send_body_headers(206, size - start,
                                   [("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))])
        body = data[start:]
        try:
            if mode == "truncated" and self.headers.get("Range") is None:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "slow":
                for i in range(0, len(body), 64):
                    self.wfile.write(body[i:i + 64])
                    self.wfile.flush()
                    time.sleep(0.5)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--size", type=int, default=300000)
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.payload = make_payload(args.size)
    srv.log_path = args.log
    open(args.log, "w").close()
    print("PORT %d PID %d SIZE %d" % (srv.server_address[1], os.getpid(), args.size), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
