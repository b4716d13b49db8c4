# stdin and the terminal pass through to the command: a pipe reaches it, a
# pseudo-terminal is its controlling tty, and `ferry shell` reads a script
# from stdin with /bin/sh (or /bin/bash when the image has one).
. "$(dirname "$0")/../lib.sh"

command -v script >/dev/null || skip "script (util-linux) is not installed"

# A second image with a /bin/bash and another shell, both marking their start.
make_busybox_image "$T/bash-img"
printf '#!/bin/sh\necho started-bash\nexec /bin/sh "$@"\n' >"$T/bash-img/bin/bash"
printf '#!/bin/sh\necho started-other\nexec /bin/sh "$@"\n' >"$T/bash-img/bin/other"
chmod 0755 "$T/bash-img/bin/bash" "$T/bash-img/bin/other"

while read -r form img; do
  expect_eq "$(echo hello | as_user "$FERRY" run "$img" cat)" hello "$form stdin pipe"
  expect_eq "$(head -c 100000 /dev/zero | as_user "$FERRY" run "$img" wc -c | tr -d ' ')" 100000 "$form 100 kB through stdin"

  # Without a terminal there is none inside; with one, it is the command's.
  out=$(as_user "$FERRY" run "$img" tty </dev/null) && fail "$form: tty found a terminal without one"
  expect_eq "$out" "not a tty" "$form no terminal"
  out=$(as_user script -qec "$FERRY run $img tty" /dev/null </dev/null | tr -d '\r')
  [[ $out =~ ^/dev/pts/[0-9]+$ ]] || fail "$form: tty under a pseudo-terminal printed '$out'"
  out=$(as_user script -qec "$FERRY run $img sh -c 'test -t 0 && test -t 1 && test -t 2 && echo all-tty; exit 4'" \
    /dev/null </dev/null | tr -d '\r') && st=0 || st=$?
  expect_eq "$out" all-tty "$form stdin, stdout, stderr on the terminal"
  expect_eq "$st" 4 "$form exit status through script"

  st=0
  out=$(printf 'echo from-shell; exit 3\n' | as_user "$FERRY" shell "$img") || st=$?
  expect_eq "$out" from-shell "$form ferry shell output"
  expect_eq "$st" 3 "$form ferry shell exit status"
done < <(image_forms)

st=0
out=$(printf 'echo from-bash; exit 6\n' | as_user "$FERRY" shell "$T/bash-img") || st=$?
expect_eq "$out" "$(printf 'started-bash\nfrom-bash')" "ferry shell prefers /bin/bash"
expect_eq "$st" 6 "ferry shell with /bin/bash exit status"
out=$(printf 'echo from-other\n' | as_user "$FERRY" shell --shell /bin/other "$T/bash-img")
expect_eq "$out" "$(printf 'started-other\nfrom-other')" "ferry shell --shell"
