#!/usr/bin/python3
"""Uploads an OCI image layout to a registry through the distribution API,
so that pull tests can seed a registry without ferry's own push.

  upload.py [--registry URL] [--ca FILE] [--user U --password P]
            [--index] [--ref NAME] [--docker] LAYOUT REPO[:TAG]

Without --index, the image is the descriptor of LAYOUT/index.json whose
org.opencontainers.image.ref.name annotation is NAME (--ref, default TAG),
or the layout's only descriptor. Its blobs go up first (HEAD, then
POST /v2/REPO/blobs/uploads/ and PUT ?digest=), then the manifest with its
media type, under TAG. A descriptor that is itself an index has its
manifests uploaded by digest first.

With --index, every manifest of index.json goes up by digest, then an OCI
image index listing them, each with its platform (the descriptor's, or
os/architecture/variant from its config), goes up under TAG.

--docker rewrites media types to Docker's (schema 2 manifest, manifest
list, container config, rootfs.diff.tar[.gzip] layers) before uploading,
which changes the manifests' digests.

Auth: HTTP Basic, or the Bearer token flow (401 + WWW-Authenticate: Bearer
realm=...,service=...,scope=...), with --user/--password (default
$REGISTRY_USER/$REGISTRY_PASS). https registries are verified with --ca
(default $REGISTRY_CA). Prints the digest of the manifest TAG names.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEXES = (OCI_INDEX, DOCKER_LIST)
DOCKER_TYPES = {
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_LIST,
    "application/vnd.oci.image.config.v1+json": "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.docker.image.rootfs.diff.tar",
}
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


class Failure(Exception):
    pass


def parse_challenge(header):
    """'Bearer realm="x",service="y"' -> ('bearer', {'realm': 'x', ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class Registry:
    def __init__(self, url, ca, user, password, repo):
        self.base = urllib.parse.urlsplit(url.rstrip("/"))
        # For the registry and for a token realm: either may be https.
        self.ctx = ssl.create_default_context(cafile=ca)
        self.user, self.password, self.repo = user, password, repo
        self.auth = None  # the Authorization header value, once known
        self.conn = None

    def connection(self, split):
        if split.scheme == "https":
            return http.client.HTTPSConnection(split.hostname, split.port or 443,
                                               context=self.ctx, timeout=60)
        return http.client.HTTPConnection(split.hostname, split.port or 80, timeout=60)

    def basic(self):
        if self.user is None:
            raise Failure("the registry asks for credentials and none were given")
        return "Basic " + base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()

    def authenticate(self, challenge):
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            self.auth = self.basic()
            return
        if scheme != "bearer":
            raise Failure("unknown auth challenge: %s" % challenge)
        realm = urllib.parse.urlsplit(params["realm"])
        query = {"service": params.get("service", "")}
        scopes = ["repository:%s:pull,push" % self.repo]
        if params.get("scope") and params["scope"] not in scopes:
            scopes.append(params["scope"])
        path = realm.path + "?" + urllib.parse.urlencode(query) + "".join(
            "&scope=" + urllib.parse.quote(s, safe="") for s in scopes)
        c = self.connection(realm)
        headers = {"Authorization": self.basic()} if self.user is not None else {}
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise Failure("token request to %s: %d %s" % (params["realm"], r.status, body[:200]))
        answer = json.loads(body)
        self.auth = "Bearer " + (answer.get("token") or answer["access_token"])

    def request(self, method, target, body=None, headers=None, expect=(200,)):
        """target: a path, or an absolute URL (a Location). body: bytes or a
        file path. Returns (response, data)."""
        for attempt in range(3):
            split = urllib.parse.urlsplit(target)
            if split.scheme:
                path = split.path + ("?" + split.query if split.query else "")
                conn = self.connection(split)
            else:
                path = target
                if self.conn is None:
                    self.conn = self.connection(self.base)
                conn = self.conn
            h = dict(headers or {})
            if self.auth:
                h["Authorization"] = self.auth
            if isinstance(body, str):
                h["Content-Length"] = str(os.path.getsize(body))
                with open(body, "rb") as f:
                    conn.request(method, path, body=f, headers=h)
            else:
                if body is not None or method in ("PUT", "POST", "PATCH"):
                    h["Content-Length"] = str(len(body or b""))
                conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            if conn is not self.conn:
                conn.close()
            if r.status == 401 and attempt == 0 and r.getheader("WWW-Authenticate"):
                self.authenticate(r.getheader("WWW-Authenticate"))
                continue
            if r.status not in expect:
                raise Failure("%s %s: %d %s" % (method, path, r.status, data[:300].decode(errors="replace")))
            return r, data
        raise Failure("%s %s: still unauthorized" % (method, target))

    def put_blob(self, digest, path):
        r, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (self.repo, digest), expect=(200, 404))
        if r.status == 200:
            return
        r, _ = self.request("POST", "/v2/%s/blobs/uploads/" % self.repo, expect=(202,))
        location = r.getheader("Location")
        if not location:
            raise Failure("no Location in the upload answer")
        sep = "&" if "?" in location else "?"
        self.request("PUT", location + sep + "digest=" + urllib.parse.quote(digest),
                     body=path, headers={"Content-Type": "application/octet-stream"}, expect=(201,))

    def put_manifest(self, ref, media_type, data):
        r, _ = self.request("PUT", "/v2/%s/manifests/%s" % (self.repo, ref), body=data,
                            headers={"Content-Type": media_type}, expect=(201,))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        got = r.getheader("Docker-Content-Digest")
        if got and got != digest:
            raise Failure("the registry stored %s as %s" % (digest, got))
        return digest


class Uploader:
    def __init__(self, layout, registry, docker):
        self.layout, self.reg, self.docker = layout, registry, docker
        self.done = set()

    def blob_path(self, digest):
        algo, _, hexd = digest.partition(":")
        return os.path.join(self.layout, "blobs", algo, hexd)

    def read_blob(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def blob(self, digest):
        if digest not in self.done:
            self.reg.put_blob(digest, self.blob_path(digest))
            self.done.add(digest)

    def convert(self, obj):
        """Docker media types in a manifest or index (in place)."""
        if not self.docker:
            return obj
        for d in [obj, obj.get("config", {})] + obj.get("layers", []) + obj.get("manifests", []):
            if d.get("mediaType") in DOCKER_TYPES:
                d["mediaType"] = DOCKER_TYPES[d["mediaType"]]
        return obj

    def manifest(self, desc, ref=None):
        """Uploads what desc points at (under ref, else by digest); returns
        the descriptor of what was uploaded (digest and size may change)."""
        raw = self.read_blob(desc["digest"])
        obj = json.loads(raw)
        media_type = desc.get("mediaType") or obj.get("mediaType") or OCI_MANIFEST
        if media_type in INDEXES:
            children = [self.manifest(c) for c in obj["manifests"]]
            if self.docker:
                obj["manifests"] = children
        else:
            self.blob(obj["config"]["digest"])
            for layer in obj.get("layers", []):
                if not layer.get("urls"):
                    self.blob(layer["digest"])
        if self.docker:
            obj = self.convert(obj)
            media_type = DOCKER_TYPES.get(media_type, media_type)
            obj["mediaType"] = media_type
            raw = json.dumps(obj, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        self.reg.put_manifest(ref or digest, media_type, raw)
        out = {"mediaType": media_type, "digest": digest, "size": len(raw)}
        if desc.get("platform"):
            out["platform"] = desc["platform"]
        return out

    def platform(self, desc):
        if desc.get("platform"):
            return desc["platform"]
        manifest = json.loads(self.read_blob(desc["digest"]))
        config = json.loads(self.read_blob(manifest["config"]["digest"]))
        p = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
        if config.get("variant"):
            p["variant"] = config["variant"]
        return p

    def index(self, descs, tag):
        entries = []
        for d in descs:
            platform = self.platform(d)
            up = self.manifest(d)
            up["platform"] = platform
            entries.append(up)
        media_type = DOCKER_LIST if self.docker else OCI_INDEX
        idx = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        return self.reg.put_manifest(tag, media_type, json.dumps(idx, separators=(",", ":")).encode())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("layout")
    p.add_argument("reference", help="REPO[:TAG]")
    p.add_argument("--registry", default=os.environ.get("REGISTRY_URL"))
    p.add_argument("--ca", default=os.environ.get("REGISTRY_CA") or None)
    p.add_argument("--user", default=os.environ.get("REGISTRY_USER") or None)
    p.add_argument("--password", default=os.environ.get("REGISTRY_PASS") or None)
    p.add_argument("--index", action="store_true")
    p.add_argument("--ref", help="the layout's ref.name to upload (default: TAG)")
    p.add_argument("--docker", action="store_true")
    a = p.parse_args()
    if not a.registry:
        p.error("no --registry and no $REGISTRY_URL")

    repo, tag = a.reference, "latest"
    last = a.reference.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = a.reference.rsplit(":", 1)

    with open(os.path.join(a.layout, "index.json")) as f:
        descs = json.load(f)["manifests"]
    up = Uploader(a.layout, Registry(a.registry, a.ca, a.user, a.password, repo), a.docker)
    try:
        if a.index:
            digest = up.index(descs, tag)
        else:
            want = a.ref or tag
            named = [d for d in descs
                     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == want]
            if not named and len(descs) == 1:
                named = descs
            if len(named) != 1:
                names = [d.get("annotations", {}).get("org.opencontainers.image.ref.name", "?") for d in descs]
                raise Failure("%s: no single image named '%s' (names: %s)" % (a.layout, want, ", ".join(names)))
            digest = up.manifest(named[0], tag)["digest"]
    except (Failure, OSError, http.client.HTTPException, KeyError, ValueError) as e:
        print("upload.py: %s: %s" % (a.reference, e), file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
