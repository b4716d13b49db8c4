#!/usr/bin/python3
"""A small Docker token issuer for the registry tests (tests/registry/registry.bash).

It implements the token flow that docker-registry (distribution 2.8) is
configured for with `auth: token`:

  GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]
      Authorization: Basic base64(user:password)        (optional)
  -> 200 {"token": T, "access_token": T, "expires_in": N, "issued_at": ISO8601}

T is a JWT signed ES256 (P-256) with a key generated here, whose self-signed
certificate (--cert) is the registry's `rootcertbundle`. The header's `kid`
is the libtrust key id distribution looks the key up by. Right credentials
get every action asked for; wrong ones get 401; none at all get a token
with no access (pull only with --anonymous-pull), as Docker Hub does.
POST /token with an OAuth2 password grant (form fields grant_type=password,
username, password, service, scope) answers the same way.

Every token issued appends one line to --log:
  ISO-TIME user=NAME|anonymous service=S scope=SCOPE[,SCOPE]|- expires_in=N jti=ID token=T
(the password never appears). The port, chosen by the kernel, is written to
--port-file once the server listens.

--strict-expiry: distribution accepts a token up to 60 s after its `exp`
(Leeway in registry/auth/token/token.go). With this option the `exp` claim
is backdated by those 60 s, so the registry refuses the token once
expires_in seconds have passed: what a token-refresh test needs.
"""

import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from serve_util import serve_announced  # beside this script

DISTRIBUTION_LEEWAY = 60


def libtrust_key_id(public_key):
    """libtrust's KeyID: sha256 of the DER SubjectPublicKeyInfo, first 240
    bits, base32, in 12 groups of 4 characters joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def load_or_make_key(key_path, cert_path):
    if os.path.exists(key_path) and os.path.exists(cert_path):
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ferry test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key


def parse_scope(scope):
    """'repository:NAME:pull,push' -> ('repository', 'NAME', ['pull', 'push'])."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


class Issuer:
    def __init__(self, args, key):
        self.args = args
        self.key = key
        self.kid = libtrust_key_id(key.public_key())
        self.log_lock = threading.Lock()

    def check(self, user, password):
        return (secrets.compare_digest(user, self.args.user)
                and secrets.compare_digest(password, self.args.password))

    def token(self, user, service, scopes):
        """user: None for anonymous."""
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            if user is None:
                actions = [a for a in actions if a == "pull"] if self.args.anonymous_pull else []
            if actions:
                access.append({"type": kind, "name": name, "actions": actions})
        now = int(time.time())
        expires_in = self.args.expires
        exp = now + expires_in - (DISTRIBUTION_LEEWAY if self.args.strict_expiry else 0)
        jti = secrets.token_hex(8)
        claims = {
            "iss": self.args.issuer,
            "sub": user or "",
            "aud": service or self.args.service,
            "exp": exp,
            "nbf": now - 1,
            "iat": now,
            "jti": jti,
            "access": access,
        }
        tok = jwt.encode(claims, self.key, algorithm="ES256",
                         headers={"kid": self.kid, "typ": "JWT"})
        issued_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        body = {
            "token": tok,
            "access_token": tok,
            "expires_in": expires_in,
            "issued_at": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with self.log_lock, open(self.args.log, "a") as f:
            f.write("%s user=%s service=%s scope=%s expires_in=%d jti=%s token=%s\n" % (
                issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"), user or "anonymous",
                service or "-", ",".join(scopes) or "-", expires_in, jti, tok))
        return body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    issuer = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("token_issuer: %s %s\n" % (self.address_string(), fmt % args))

    def reply(self, code, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def unauthorized(self, why):
        self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]},
                   [("WWW-Authenticate", 'Basic realm="ferry test token issuer"')])

    def basic_credentials(self):
        """None (no header), False (malformed), or (user, password)."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        scheme, _, value = h.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
        except Exception:
            return False
        return (user, password) if sep else False

    def issue(self, creds, service, scopes):
        if creds is None:
            self.reply(200, self.issuer.token(None, service, scopes))
        elif creds is False or not self.issuer.check(*creds):
            self.unauthorized("authentication failed")
        else:
            self.reply(200, self.issuer.token(creds[0], service, scopes))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        scopes = []
        for s in q.get("scope", []):
            scopes.extend(s.split(" "))  # a client may join several with spaces
        self.issue(self.basic_credentials(), q.get("service", [None])[0], [s for s in scopes if s])

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        if form.get("grant_type", [""])[0] != "password":
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        creds = (form.get("username", [""])[0], form.get("password", [""])[0])
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(s.split(" "))
        self.issue(creds, form.get("service", [None])[0], [s for s in scopes if s])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--key", required=True, help="PEM private key (made if missing)")
    p.add_argument("--cert", required=True, help="PEM certificate (made if missing)")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True, help="TOKEN_LOG: one line per token")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--service", default="ferry-test-registry")
    p.add_argument("--issuer", default="ferry-test-issuer")
    p.add_argument("--expires", type=int, default=300, help="expires_in, seconds")
    p.add_argument("--strict-expiry", action="store_true")
    p.add_argument("--anonymous-pull", action="store_true")
    p.add_argument("--tls-cert", help="serve https with this certificate")
    p.add_argument("--tls-key")
    p.add_argument("--print-kid", action="store_true", help="print the key id and exit")
    args = p.parse_args()

    key = load_or_make_key(args.key, args.cert)
    if args.print_kid:
        print(libtrust_key_id(key.public_key()))
        return
    Handler.issuer = Issuer(args, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # The handshake then happens in the handler's thread, not in accept().
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    serve_announced(server, args.port_file)


if __name__ == "__main__":
    main()
