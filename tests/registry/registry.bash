# Registry fixtures for the pull/push/login tests (issue 4): Debian's
# docker-registry (distribution 2.8) on a free loopback port, a token issuer,
# a fault-injecting proxy, an uploader that seeds a registry from an OCI image
# layout without ferry, and small layouts to seed it with. Sourced after
# tests/lib.sh (this file is not a test: the test glob takes *.sh only):
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/../registry/registry.bash"
#   registry_start token                    # plain|basic|token|tls, tls combines
#   registry_busybox_layout "$T/img" v1
#   registry_upload_oci "$T/img" test/busybox:v1
#   proxy_start drop-blob                   # optional, in front of the registry
#   ... "$FERRY" pull "$PROXY/test/busybox:v1" ...
#
# registry_start MODE... [OPTION...]
#   MODE words: plain (http, no auth), basic (htpasswd bcrypt), token (auth:
#   token against tests/registry/token_issuer.py), tls (https, a CA made here).
#   tls combines with basic or token ("registry_start basic tls"); the token
#   issuer then serves https too, with the same CA. Without tls, basic and
#   token run over plain http: distribution 2.8 requires TLS for neither
#   (nor does it warn).
#   OPTIONs (token mode): --token-expires=N (expires_in, default 300 s),
#   --token-strict-expiry (the registry refuses a token once expires_in has
#   passed; by default distribution accepts it 60 s longer), --anonymous-pull
#   (tokens asked for without credentials may pull).
#   Exports, describing the registry started last:
#     REGISTRY      127.0.0.1:PORT
#     REGISTRY_URL  http(s)://127.0.0.1:PORT
#     REGISTRY_CA   the CA certificate (tls), else empty
#     REGISTRY_USER, REGISTRY_PASS  the credentials (basic, token), else empty;
#                   the password is random per test, so a test can grep for it
#     REGISTRY_PID  the docker-registry process
#     REGISTRY_LOG  its log (access log included)
#     TOKEN_LOG     (token) the issuer's log, one line per token issued:
#                   TIME user=U|anonymous service=S scope=A,B|- expires_in=N jti=J token=T
#                   else empty
#     TOKEN_REALM   (token) the issuer's URL, else empty
#   Several registries may run at once (say, a mirror and an origin): save
#   the variables of one before starting the next. Call it directly, not in
#   $(...) or a pipeline: the processes it starts are children of the test's
#   shell (they die with it), so a bare `wait` would wait for them too: wait
#   for the pids you mean.
# registry_stop: stops every registry, issuer and proxy started (by pid). It
#   also runs at exit, before tests/lib.sh's cleanup.
# proxy_start FAULT [--count=N] [--tls]: tests/registry/fault_proxy.py in front of the
#   registry started last (its current $REGISTRY; https upstream with $REGISTRY_CA),
#   replacing any proxy already running. The proxy speaks plain http to its
#   clients (--tls: https, with the tls registry's certificate; the registry
#   still builds http:// upload locations, as behind a misconfigured proxy). FAULT: none, drop-blob, drop-each-blob, corrupt-blob, 429, 500,
#   hang, cdn-challenge (fault_proxy.py says what each does). Exports PROXY (127.0.0.1:PORT),
#   PROXY_URL (http://PROXY), PROXY_LOG (one line per request:
#   SEQ METHOD PATH range=R|- auth=basic|bearer|- status=N fault=ACTION sent=BYTES)
#   and PROXY_PID.
# proxy_stop: stops the proxy.
# registry_upload_oci LAYOUT REPO[:TAG] [--index] [--ref NAME] [--docker]:
#   uploads an OCI image layout with tests/registry/upload.py to $REGISTRY_URL
#   (as $REGISTRY_USER, trusting $REGISTRY_CA); prints the digest TAG points to.
# registry_layout DIR TAG [ARCH [BASE]]: adds to the OCI layout DIR an image
#   named TAG (ref.name annotation) for linux/ARCH (default this machine's;
#   arm64/v8 gives a variant), with the platform in its index.json descriptor:
#   a base layer (BASE: busybox, the default, made by lib.sh's
#   make_busybox_image; none; or a directory) and a top layer with /arch
#   (ARCH) and /etc/hello (TAG). Prints the manifest's digest.
# registry_busybox_layout DIR TAG: the same, for this machine.
# registry_with_busybox DIR MODE...: what most pull tests start with:
#   registry_start MODE..., the busybox layout DIR tagged v1, uploaded as
#   test/busybox:v1; BUSYBOX_DIGEST is its manifest's digest. Call it
#   directly, not in $(...) (registry_start's rule).
# registry_multiarch_layout DIR [BASE]: a layout with two images, tagged
#   amd64 and arm64 (linux/amd64, linux/arm64/v8), same base layer, /arch
#   holding the architecture; upload it with --index for a multi-arch image.
#
# What distribution 2.8 does that a client must cope with:
# - A manifest GET must Accept the stored media type: an OCI manifest or
#   index asked for without application/vnd.oci.image.manifest.v1+json (or
#   .index.v1+json) in Accept is 404 MANIFEST_UNKNOWN "OCI manifest found, but
#   accept header does not support OCI manifests".
# - A token stays valid 60 s past its exp (see --token-strict-expiry).
# - POST /v2/NAME/blobs/uploads/?digest=D with a body is not a monolithic
#   upload: it answers 202 and ignores the body; use POST, then PUT ?digest=.
#   ?mount=D&from=REPO answers 201 when REPO has D, else 202 (a new upload).
# - zstd layers (application/vnd.oci.image.layer.v1.tar+zstd) are accepted.
# - Over tls, Go's server speaks HTTP/2 to clients that offer it (curl does).

[ -z "${_registry_sourced:-}" ] || return 0
_registry_sourced=1
REGISTRY_FIXTURES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python3: the token issuer needs python3-jwt and python3-cryptography.
FIXTURE_PYTHON=${FIXTURE_PYTHON:-/usr/bin/python3}
declare -F layer_tar >/dev/null || . "$REGISTRY_FIXTURES/../store/image_fixtures.bash"

_registry_pids=()
_registry_n=0
_proxy_pid=
REGISTRY='' REGISTRY_URL='' REGISTRY_CA='' REGISTRY_PID='' REGISTRY_LOG='' TOKEN_LOG='' TOKEN_REALM=''
PROXY='' PROXY_URL='' PROXY_LOG='' PROXY_PID=''
export REGISTRY REGISTRY_URL REGISTRY_CA REGISTRY_PID REGISTRY_LOG TOKEN_LOG TOKEN_REALM
export PROXY PROXY_URL PROXY_LOG PROXY_PID

# Stop what was started before tests/lib.sh removes $T.
at_exit registry_stop

_registry_need() {
  command -v "$1" >/dev/null || skip "$1 is not installed (tools/deps.txt lists ${2:-$1})"
}

# _registry_spawn PIDVAR LOG CMD...: starts CMD in the background, its output
# in LOG, killed if this shell dies without cleaning up; records its pid.
_registry_spawn() {
  local -n _pid=$1
  local log=$2
  shift 2
  if setpriv --help 2>/dev/null | grep -q pdeathsig; then
    setpriv --pdeathsig KILL -- "$@" </dev/null >>"$log" 2>&1 &
  else
    "$@" </dev/null >>"$log" 2>&1 &
  fi
  _pid=$!
  _registry_pids+=("$_pid")
}

# _registry_alive PID: the process exists and is not a zombie.
_registry_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# _registry_kill PID: TERM, then KILL after 3 s; reaps it.
_registry_kill() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 60); do
    _registry_alive "$pid" || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${_registry_pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  _registry_pids=("${keep[@]}")
}

# _registry_port_file PID FILE WHAT LOG: waits (10 s at most) for a python server
# to write the port it listens on; prints it.
_registry_port_file() {
  local pid=$1 file=$2 what=$3 log=$4
  for _ in $(seq 200); do
    if [ -s "$file" ]; then cat "$file"; return 0; fi
    _registry_alive "$pid" || fail "$what exited at start: $(tail -5 "$log")"
    sleep 0.05
  done
  fail "$what did not listen within 10 s: $(tail -5 "$log")"
}

_registry_random() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }

# _registry_tls DIR: a CA and a server certificate for 127.0.0.1/localhost.
_registry_tls() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj "/CN=ferry test CA" -keyout "$d/ca.key" -out "$d/ca.crt" 2>"$d/openssl.log" ||
    fail "openssl: $(tail -3 "$d/openssl.log")"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>>"$d/openssl.log" ||
    fail "openssl: $(tail -3 "$d/openssl.log")"
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$(_registry_random)" \
    -days 7 -extfile "$d/server.ext" -out "$d/server.crt" 2>>"$d/openssl.log" ||
    fail "openssl: $(tail -3 "$d/openssl.log")"
  chmod a+r "$d"/*
}

registry_start() {
  local tls=0 auth=none expires=300 strict=0 anon=0 w
  [ $# -gt 0 ] || fail "registry_start: give a mode: plain, basic, token or tls"
  for w in "$@"; do
    case $w in
      plain) ;;
      basic | token)
        [ "$auth" = none ] || fail "registry_start: basic and token do not combine"
        auth=$w ;;
      tls) tls=1 ;;
      --token-expires=*) expires=${w#*=} ;;
      --token-strict-expiry) strict=1 ;;
      --anonymous-pull) anon=1 ;;
      *) fail "registry_start: unknown mode or option '$w'" ;;
    esac
  done
  _registry_need docker-registry
  _registry_need curl
  [ -x "$FIXTURE_PYTHON" ] || skip "$FIXTURE_PYTHON is not installed"
  [ $tls = 0 ] || _registry_need openssl
  [ "$auth" != basic ] || _registry_need htpasswd apache2-utils
  if [ "$auth" = token ]; then
    "$FIXTURE_PYTHON" -c 'import jwt, cryptography' 2>/dev/null ||
      skip "python3-jwt or python3-cryptography is not installed (tools/deps.txt lists them)"
  fi

  _registry_n=$((_registry_n + 1))
  local d=$T/registry.$_registry_n scheme=http
  mkdir -p "$d/storage"
  REGISTRY_CA='' REGISTRY_USER='' REGISTRY_PASS='' TOKEN_LOG='' TOKEN_REALM=''
  if [ $tls = 1 ]; then
    _registry_tls "$d/tls"
    REGISTRY_CA=$d/tls/ca.crt
    scheme=https
  fi
  if [ "$auth" != none ]; then
    # One password per test, shared by the registries it starts.
    _registry_creds_user=${_registry_creds_user:-ferry-user}
    _registry_creds_pass=${_registry_creds_pass:-pw-$(_registry_random)}
    REGISTRY_USER=$_registry_creds_user REGISTRY_PASS=$_registry_creds_pass
  fi
  export REGISTRY_CA REGISTRY_USER REGISTRY_PASS TOKEN_LOG TOKEN_REALM

  local auth_yaml=
  case $auth in
    basic)
      # Cost 4: distribution checks the bcrypt hash on every request.
      htpasswd -nbB -C 4 "$REGISTRY_USER" "$REGISTRY_PASS" | sed '/^$/d' >"$d/htpasswd"
      auth_yaml="auth:
  htpasswd:
    realm: ferry-test
    path: $d/htpasswd"
      ;;
    token)
      local ipid iport iargs=()
      TOKEN_LOG=$d/tokens.log
      : >"$TOKEN_LOG"
      [ $strict = 0 ] || iargs+=(--strict-expiry)
      [ $anon = 0 ] || iargs+=(--anonymous-pull)
      [ $tls = 0 ] || iargs+=(--tls-cert "$d/tls/server.crt" --tls-key "$d/tls/server.key")
      _registry_spawn ipid "$d/issuer.log" "$FIXTURE_PYTHON" "$REGISTRY_FIXTURES/token_issuer.py" \
        --key "$d/issuer.key" --cert "$d/issuer.crt" --port-file "$d/issuer.port" --log "$TOKEN_LOG" \
        --user "$REGISTRY_USER" --password "$REGISTRY_PASS" --expires "$expires" \
        --service ferry-test-registry --issuer ferry-test-issuer "${iargs[@]}"
      iport=$(_registry_port_file "$ipid" "$d/issuer.port" "the token issuer" "$d/issuer.log")
      TOKEN_REALM=$scheme://127.0.0.1:$iport/token
      auth_yaml="auth:
  token:
    realm: $TOKEN_REALM
    service: ferry-test-registry
    issuer: ferry-test-issuer
    rootcertbundle: $d/issuer.crt"
      ;;
  esac
  local tls_yaml=
  [ $tls = 0 ] || tls_yaml="  tls:
    certificate: $d/tls/server.crt
    key: $d/tls/server.key"

  # distribution reads REGISTRY_* variables as configuration: ours are not.
  local unset_env=() v
  for v in $(compgen -e); do case $v in REGISTRY_*) unset_env+=(-u "$v") ;; esac; done

  local port pid code _
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $d/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(_registry_random)
$tls_yaml
$auth_yaml
EOF
    : >"$d/registry.log"
    _registry_spawn pid "$d/registry.log" env "${unset_env[@]}" docker-registry serve "$d/config.yml"
    code=000
    for _ in $(seq 300); do
      _registry_alive "$pid" || break
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${REGISTRY_CA:+--cacert "$REGISTRY_CA"} \
        "$scheme://127.0.0.1:$port/v2/" || true)
      case $code in 200 | 401) break ;; esac
      sleep 0.05
    done
    case $code in 200 | 401) break ;; esac
    local exited=
    _registry_alive "$pid" || exited=1
    _registry_kill "$pid"
    grep -q "address already in use" "$d/registry.log" && continue
    [ -z "$exited" ] ||
      fail "docker-registry exited at start ($d/config.yml): $(tail -5 "$d/registry.log")"
    fail "docker-registry did not answer on $scheme://127.0.0.1:$port/v2/ within 15 s: $(tail -5 "$d/registry.log")"
  done
  case $code in 200 | 401) ;; *) fail "docker-registry found no free port in 5 tries" ;; esac

  REGISTRY=127.0.0.1:$port
  REGISTRY_URL=$scheme://$REGISTRY
  REGISTRY_PID=$pid
  REGISTRY_LOG=$d/registry.log
}

registry_stop() {
  local pid
  for pid in "${_registry_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${_registry_pids[@]}"; do _registry_kill "$pid"; done
  _registry_pids=()
  _proxy_pid=
  return 0
}

proxy_start() {
  local fault=${1:-} count=2 w tls=()
  [ -n "$fault" ] || fail "proxy_start: give a fault: none, drop-blob, drop-each-blob, corrupt-blob, 429, 500, hang or cdn-challenge"
  shift
  for w in "$@"; do
    case $w in
      --count=*) count=${w#*=} ;;
      --tls)
        [ -n "$REGISTRY_CA" ] || fail "proxy_start --tls: the registry has no certificate (registry_start tls)"
        tls=(--tls-cert "$(dirname "$REGISTRY_CA")/server.crt" --tls-key "$(dirname "$REGISTRY_CA")/server.key") ;;
      *) fail "proxy_start: unknown option '$w'" ;;
    esac
  done
  [ -n "$REGISTRY" ] || fail "proxy_start: no registry (registry_start first)"
  proxy_stop
  _registry_n=$((_registry_n + 1))
  local d=$T/proxy.$_registry_n pid port up=()
  mkdir -p "$d"
  case $REGISTRY_URL in https:*) up=(--upstream-ca "$REGISTRY_CA") ;; esac
  _registry_spawn pid "$d/proxy.stderr" "$FIXTURE_PYTHON" "$REGISTRY_FIXTURES/fault_proxy.py" \
    --upstream "$REGISTRY" "${up[@]}" --fault "$fault" --count "$count" \
    --port-file "$d/port" --log "$d/proxy.log" "${tls[@]}"
  port=$(_registry_port_file "$pid" "$d/port" "the fault proxy" "$d/proxy.stderr")
  _proxy_pid=$pid
  PROXY=127.0.0.1:$port
  PROXY_URL=http://$PROXY
  [ ${#tls[@]} = 0 ] || PROXY_URL=https://$PROXY
  PROXY_LOG=$d/proxy.log
  PROXY_PID=$pid
}

proxy_stop() {
  [ -z "$_proxy_pid" ] || _registry_kill "$_proxy_pid"
  _proxy_pid=
}

registry_upload_oci() {
  [ $# -ge 2 ] || fail "registry_upload_oci: give LAYOUT and REPO[:TAG]"
  [ -n "$REGISTRY_URL" ] || fail "registry_upload_oci: no registry (registry_start first)"
  "$FIXTURE_PYTHON" "$REGISTRY_FIXTURES/upload.py" --registry "$REGISTRY_URL" "$@"
}

# --- layouts ------------------------------------------------------------------

registry_layout() {
  local dir=$1 tag=$2 arch=${3:-$(host_arch)} base=${4:-busybox}
  local work=$dir.work/$tag.$$ layers=() a=${arch%%/*} variant=
  [ "$arch" = "$a" ] || variant=${arch#*/}
  mkdir -p "$dir" "$work/top/etc"
  case $base in
    none) ;;
    busybox)
      [ -d "$T/registry-busybox" ] || make_busybox_image "$T/registry-busybox"
      [ -f "$T/registry-busybox.tar.gz" ] || layer_tar "$T/registry-busybox" "$T/registry-busybox.tar.gz" gzip
      layers+=("$T/registry-busybox.tar.gz") ;;
    *)
      layer_tar "$base" "$work/base.tar.gz" gzip
      layers+=("$work/base.tar.gz") ;;
  esac
  echo "$arch" >"$work/top/arch"
  echo "$tag" >"$work/top/etc/hello"
  chmod -R a+rX "$work/top"
  layer_tar "$work/top" "$work/top.tar.gz" gzip
  layers+=("$work/top.tar.gz")
  local ids="" l
  for l in "${layers[@]}"; do ids="$ids${ids:+,}\"sha256:$(diff_id "$l")\""; done
  printf '{"architecture":"%s","os":"linux"%s,"config":{"Env":["PATH=/bin:/usr/bin","FIXTURE=%s"],"Cmd":["cat","/etc/hello"],"WorkingDir":"/etc"},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$a" "${variant:+,\"variant\":\"$variant\"}" "$tag" "$ids" >"$work/config.json"
  local m platform
  m=$(oci_manifest "$dir" "$work/config.json" "${layers[@]}")
  platform=$(printf '"platform":{"architecture":"%s","os":"linux"%s}' "$a" "${variant:+,\"variant\":\"$variant\"}")
  printf '%s,%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}\n' "${m%\}}" "$platform" "$tag" \
    >>"$dir.descriptors"
  local descs=()
  mapfile -t descs <"$dir.descriptors"
  oci_index "$dir" "${descs[@]}"
  rm -rf "$dir.work" "$dir.manifest"
  chmod -R a+rX "$dir"
  m=${m#*\"digest\":\"}
  echo "${m%%\"*}"
}

registry_busybox_layout() { registry_layout "$1" "$2" "$(host_arch)" busybox; }

registry_with_busybox() {
  local dir=$1
  shift
  registry_start "$@"
  registry_busybox_layout "$dir" v1 >/dev/null
  BUSYBOX_DIGEST=$(registry_upload_oci "$dir" test/busybox:v1)
}

registry_multiarch_layout() {
  registry_layout "$1" amd64 amd64 "${2:-busybox}" >/dev/null
  registry_layout "$1" arm64 arm64/v8 "${2:-busybox}" >/dev/null
}
