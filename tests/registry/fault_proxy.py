#!/usr/bin/python3
"""A fault-injecting HTTP proxy for the registry tests (tests/registry/registry.bash).

It listens on a free loopback port (written to --port-file), speaks plain
HTTP/1.1 with keep-alive to its clients, and forwards each request, one at a
time per client connection, to the registry given by --upstream, streaming
bodies both ways (Content-Length or chunked), Host header kept, so the
registry's upload Location URLs point back at the proxy. --fault:

  none            pass everything through
  drop-blob       the first GET of /v2/NAME/blobs/sha256:HEX that the registry
                  answers 200 or 206 is cut: the headers (full Content-Length)
                  and half the body are sent, then the connection is closed.
                  Later requests, Range requests included, pass through.
  drop-each-blob  as drop-blob, for the first such GET of each digest
  corrupt-blob    every blob GET answered 200/206 has the byte in the middle
                  of its body inverted (same length)
  429             the first --count (2) requests get 429 Too Many Requests
                  with Retry-After: 1; then everything passes
  500             the first --count (2) requests get 503 Service Unavailable;
                  then everything passes
  hang            connections are accepted and never answered
  cdn-challenge   a blob GET is redirected (307) to /cdn/DIGEST on another
                  origin (http://localhost:PORT, this proxy again), which
                  answers 401 with a Bearer challenge whose realm is
                  http://localhost:PORT/cdn-token: a storage host (a CDN)
                  fishing for the registry's credentials. /cdn-token
                  answers 401 too; the log shows whether anything was sent

--tls-cert/--tls-key: serve https to the clients instead (the registry is
still told X-Forwarded-Proto: http, so its upload Location URLs say http:
a misconfigured TLS-terminating proxy).

--log gets one line per request (per connection for hang):
  SEQ METHOD PATH range=RANGE|- auth=basic|bearer|- status=CODE fault=ACTION sent=BYTES
where ACTION is none, drop, corrupt, 429, 503 or hang and BYTES the body
bytes sent to the client. Credentials are never written.
"""

import argparse
import http.client
import http.server
import re
import socket
import ssl
import sys
import threading

from serve_util import serve_announced  # beside this script

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
              "proxy-authenticate", "te", "trailer", "trailers", "transfer-encoding",
              "upgrade", "expect", "content-length"}
BLOB_GET = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})(\?.*)?$")
CHUNK = 64 * 1024


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.dropped = set()  # digests (or "*") already cut
        self.log_lock = threading.Lock()

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def take_drop(self, digest):
        key = digest if self.args.fault == "drop-each-blob" else "*"
        with self.lock:
            if key in self.dropped:
                return False
            self.dropped.add(key)
            return True

    def log(self, line):
        with self.log_lock, open(self.args.log, "a") as f:
            f.write(line + "\n")


def read_chunked(rfile):
    """Yields the data of a chunked body, consuming the trailer."""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("client closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            return
        yield from read_fixed(rfile, size)
        rfile.readline(3)


def read_fixed(rfile, length):
    left = length
    while left:
        data = rfile.read(min(left, CHUNK))
        if not data:
            raise ConnectionError("client closed inside the body")
        left -= len(data)
        yield data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        if self.state.args.fault == "hang":
            self.state.log("%d - - range=- auth=- status=- fault=hang sent=0" % self.state.next_seq())
            try:
                while self.connection.recv(CHUNK):
                    pass
            except OSError:
                pass
            return
        try:
            super().handle()
        finally:
            self.drop_upstream()

    # -- the request ------------------------------------------------------
    def request_body(self):
        """An iterator over the client's body, and whether it is chunked."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return read_chunked(self.rfile), True
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return read_fixed(self.rfile, length), False
        return None, False

    def auth_scheme(self):
        a = self.headers.get("Authorization", "")
        return a.split(" ", 1)[0].lower() if a else "-"

    def line(self, seq, status, action, sent):
        return "%d %s %s range=%s auth=%s status=%s fault=%s sent=%d" % (
            seq, self.command, self.path, self.headers.get("Range", "-").replace(" ", ""),
            self.auth_scheme(), status, action, sent)

    def reject(self, seq, code, reason, error, extra):
        body, _ = self.request_body()
        for _ in body or ():
            pass
        data = ('{"errors":[{"code":"%s","message":"injected by the fault proxy"}]}' % error).encode()
        self.send_response_only(code, reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            self.wfile.write(data)
            sent = len(data)
        self.wfile.flush()
        self.state.log(self.line(seq, code, str(code), sent))

    def connect(self):
        a = self.state.args
        host, port = a.upstream.rsplit(":", 1)
        if a.upstream_ca:
            ctx = ssl.create_default_context(cafile=a.upstream_ca)
            return http.client.HTTPSConnection(host, int(port), timeout=a.timeout, context=ctx)
        return http.client.HTTPConnection(host, int(port), timeout=a.timeout)

    def drop_upstream(self):
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def send_upstream(self, body, chunked):
        if self.upstream is None:
            self.upstream = self.connect()
        c = self.upstream
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP_BY_HOP:
                c.putheader(k, v)
        c.putheader("X-Forwarded-Proto", "http")
        if chunked:
            c.putheader("Transfer-Encoding", "chunked")
        elif body is not None:
            c.putheader("Content-Length", self.headers["Content-Length"])
        elif self.command in ("PUT", "POST", "PATCH"):
            c.putheader("Content-Length", "0")
        c.endheaders()
        for data in body or ():
            if chunked:
                c.send(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                c.send(data)
        if chunked:
            c.send(b"0\r\n\r\n")
        return c.getresponse()

    def forward(self):
        st = self.state
        fault = st.args.fault
        seq = st.next_seq()
        if fault == "cdn-challenge":
            port = self.server.server_address[1]
            if self.path.startswith("/cdn"):
                return self.reject(seq, 401, "Unauthorized", "UNAUTHORIZED", [(
                    "WWW-Authenticate",
                    'Bearer realm="http://localhost:%d/cdn-token",service="cdn",scope="x"' % port)])
            m = BLOB_GET.match(self.path)
            if self.command == "GET" and m is not None:
                return self.reject(seq, 307, "Temporary Redirect", "REDIRECT",
                                   [("Location", "http://localhost:%d/cdn/%s" % (port, m.group(1)))])
        if fault == "429" and seq <= st.args.count:
            return self.reject(seq, 429, "Too Many Requests", "TOOMANYREQUESTS", [("Retry-After", "1")])
        if fault == "500" and seq <= st.args.count:
            return self.reject(seq, 503, "Service Unavailable", "UNAVAILABLE", [])

        body, chunked = self.request_body()
        try:
            try:
                resp = self.send_upstream(body, chunked)
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive upstream connection the registry closed: once
                # more on a fresh one, when there was no body to send.
                self.drop_upstream()
                if body is not None:
                    raise
                resp = self.send_upstream(None, False)
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            self.drop_upstream()
            self.close_connection = True
            data = ("fault proxy: upstream %s: %s\n" % (st.args.upstream, e)).encode()
            self.send_response_only(502, "Bad Gateway")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            st.log(self.line(seq, 502, "none", len(data)))
            return

        status = resp.status
        length = resp.length  # None when chunked or unknown
        m = BLOB_GET.match(self.path)
        is_blob = self.command == "GET" and m is not None and status in (200, 206)
        action = "none"
        if is_blob and fault in ("drop-blob", "drop-each-blob") and st.take_drop(m.group(1)):
            action = "drop"
        elif is_blob and fault == "corrupt-blob":
            action = "corrupt"

        no_body = self.command == "HEAD" or status in (204, 304) or status < 200
        if action == "drop" and length is None:
            data = resp.read()
            length = len(data)
            chunks = iter([data])
        else:
            chunks = iter(lambda: resp.read(CHUNK), b"")

        self.send_response_only(status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        use_chunked = False
        if no_body:
            if resp.getheader("Content-Length") is not None:
                self.send_header("Content-Length", resp.getheader("Content-Length"))
        elif length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
            use_chunked = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

        sent = 0
        if no_body:
            resp.read()
        elif action == "drop":
            half = length // 2
            while sent < half:
                data = next(chunks, b"")
                if not data:
                    break
                data = data[:half - sent]
                self.wfile.write(data)
                sent += len(data)
            self.wfile.flush()
            st.log(self.line(seq, status, action, sent))
            self.drop_upstream()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        else:
            flip = (length // 2) if (action == "corrupt" and length) else -1
            for data in chunks:
                if sent <= flip < sent + len(data):
                    i = flip - sent
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                if use_chunked:
                    self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                else:
                    self.wfile.write(data)
                sent += len(data)
            if use_chunked:
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        if resp.will_close:
            self.drop_upstream()
        st.log(self.line(seq, status, action, sent))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = forward


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    p.add_argument("--upstream-ca", help="talk https to the registry, trusting this CA")
    p.add_argument("--fault", required=True,
                   choices=["none", "drop-blob", "drop-each-blob", "corrupt-blob", "429", "500", "hang",
                            "cdn-challenge"])
    p.add_argument("--count", type=int, default=2, help="requests refused by 429 and 500")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=120, help="upstream socket timeout")
    p.add_argument("--tls-cert", help="serve https with this certificate")
    p.add_argument("--tls-key", help="and this key")
    args = p.parse_args()

    Handler.state = State(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    open(args.log, "a").close()
    serve_announced(server, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
