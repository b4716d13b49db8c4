# Fixture writers for the import tests: OCI image layouts and `docker save`
# archives made with tar, gzip, zstd, sha256sum and printf, so every byte
# and digest of a fixture is visible here. Sourced after tests/lib.sh (this
# file is not a test: the test glob takes *.sh only).

# layer_tar DIR OUT none|gzip|zstd: a reproducible layer tar of DIR's contents.
layer_tar() {
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$1" -cf "$2.tmp" .
  case $3 in
    none) mv "$2.tmp" "$2" ;;
    gzip) gzip -n -c "$2.tmp" >"$2" && rm "$2.tmp" ;;
    zstd) zstd -q -c "$2.tmp" >"$2" && rm "$2.tmp" ;;
  esac
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
# diff_id FILE: sha256 of the layer uncompressed.
diff_id() {
  case $1 in
    *.gz) zcat "$1" ;;
    *.zst) zstdcat -q "$1" ;;
    *) cat "$1" ;;
  esac | sha256sum | cut -d' ' -f1
}

layer_media_type() {
  case $1 in
    *.tar) echo application/vnd.oci.image.layer.v1.tar ;;
    *.tar.gz) echo application/vnd.oci.image.layer.v1.tar+gzip ;;
    *.tar.zst) echo application/vnd.oci.image.layer.v1.tar+zstd ;;
  esac
}

# oci_blob LAYOUT FILE MEDIA-TYPE: stores FILE as a blob, prints its descriptor.
oci_blob() {
  local d s
  d=$(sha "$2")
  s=$(stat -c %s "$2")
  mkdir -p "$1/blobs/sha256"
  cp "$2" "$1/blobs/sha256/$d"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$3" "$d" "$s"
}

# image_config OUT LAYER... : a config listing the layers' diff_ids, with
# Env, Cmd and WorkingDir set so that `ferry run` shows they apply.
image_config() {
  local out=$1 ids="" l
  shift
  for l in "$@"; do ids="$ids${ids:+,}\"sha256:$(diff_id "$l")\""; done
  printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin:/usr/bin","FIXTURE=%s"],"Cmd":["cat","/etc/hello"],"WorkingDir":"/etc"},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$(host_arch)" "$(basename "$out")" "$ids" >"$out"
}

host_arch() {
  case $(uname -m) in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;; esac
}

# oci_manifest LAYOUT CONFIG LAYER...: stores config, layers and a manifest;
# prints the manifest's descriptor (without annotations).
oci_manifest() {
  local layout=$1 config=$2 layers="" l
  shift 2
  for l in "$@"; do layers="$layers${layers:+,}$(oci_blob "$layout" "$l" "$(layer_media_type "$l")")"; done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "$(oci_blob "$layout" "$config" application/vnd.oci.image.config.v1+json)" "$layers" >"$layout.manifest"
  oci_blob "$layout" "$layout.manifest" application/vnd.oci.image.manifest.v1+json
}

# tagged DESCRIPTOR TAG: the descriptor with a ref.name annotation.
tagged() { printf '%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}' "${1%\}}" "$2"; }

# oci_index LAYOUT DESCRIPTOR...: writes oci-layout and index.json.
oci_index() {
  local layout=$1 list
  shift
  list=$(IFS=,; echo "$*")
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$list" \
    >"$layout/index.json"
}

# two_layer_trees DIR CONTENT: DIR/base (busybox, /etc/group) and DIR/top
# (etc/hello = CONTENT, a whiteout removing etc/group, a symlink).
two_layer_trees() {
  make_busybox_image "$1/base"
  mkdir -p "$1/top/etc"
  echo "$2" >"$1/top/etc/hello"
  : >"$1/top/etc/.wh.group"
  ln -s hello "$1/top/etc/hello.link"
  chmod -R a+rX "$1"
}
