# The working directory inside: -w DIR (which must exist there); else the
# caller's cwd if it exists inside (a home subdirectory is bound, a system
# directory is not); else the image's WorkingDir; else /.
. "$(dirname "$0")/../lib.sh"

wd=$TEST_HOME/ferry-workdir-$(basename "$T")
at_exit 'rm -rf "$wd"'
user_dir "$wd"

# A system directory of the host that the busybox image lacks.
sysdir=""
for d in /usr/share/doc /usr/share /usr/lib /var/lib; do
  [ -d "$d" ] && { sysdir=$d; break; }
done

mkdir -p "$T/img/w"  # WorkingDir of the image below; image_forms fills in the rest

while read -r form img; do
  echo '{"config":{"WorkingDir":"/w"}}' >"$img.config.json"

  expect_eq "$(AS_USER_CWD=$wd as_user "$FERRY" run "$img" pwd)" "$wd" "$form cwd under home"
  expect_eq "$(AS_USER_CWD=$T as_user "$FERRY" run "$img" pwd)" "$T" "$form cwd under /tmp"
  if [ -n "$sysdir" ]; then
    expect_eq "$(AS_USER_CWD=$sysdir as_user "$FERRY" run "$img" pwd)" /w "$form $sysdir: image WorkingDir"
    expect_eq "$(AS_USER_CWD=/ as_user "$FERRY" run "$img" pwd)" / "$form / exists inside"
    rm -f "$img.config.json"
    expect_eq "$(AS_USER_CWD=$sysdir as_user "$FERRY" run "$img" pwd)" / "$form $sysdir, no WorkingDir: /"
  fi
  # A system directory that the image does have is used as is.
  expect_eq "$(AS_USER_CWD=/usr/bin as_user "$FERRY" run "$img" pwd)" /usr/bin "$form /usr/bin exists inside"
  rm -f "$img.config.json"

  expect_eq "$(AS_USER_CWD=$wd as_user "$FERRY" run -w /usr/bin "$img" pwd)" /usr/bin "$form -w existing"
  expect_eq "$(as_user "$FERRY" run --workdir=/w "$img" pwd)" /w "$form --workdir="
  expect_eq "$(as_user "$FERRY" run -v "$wd:/data" -w /data "$img" pwd)" /data "$form -w a volume"

  err=$(as_user "$FERRY" run -w /no/such/dir "$img" pwd 2>&1) && fail "$form: missing workdir accepted"
  expect_eq "$err" "ferry: run $img: workdir /no/such/dir: no such directory in the container" "$form missing -w message"
  expect_status "$EXIT_FAILURE" as_user "$FERRY" run -w /no/such/dir "$img" pwd
  err=$(as_user "$FERRY" run -w /etc/os-release "$img" pwd 2>&1) && fail "$form: file as workdir accepted"
  expect_eq "$err" "ferry: run $img: workdir /etc/os-release: no such directory in the container" "$form -w file message"
done < <(image_forms)
