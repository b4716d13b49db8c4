# The container's environment: host < image Env < --env-file < -e;
# --cleanenv drops the host's but keeps the image's; `-e NAME` takes the
# host's value; PATH falls back to Docker's default when nothing sets it.
. "$(dirname "$0")/../lib.sh"

cat >"$T/vars.env" <<'EOF'
# a comment, then a blank line

   # an indented comment
OVER_FILE=file
OVER_E=file
export EXPORTED=yes
FILE_ONLY=with=equals
FROM_HOST_BY_NAME
EOF
chmod a+r "$T/vars.env"

image_env='{"config":{"Env":["PATH=/image/bin:/usr/bin:/bin","FROM_IMAGE=image","OVER_IMG=image","OVER_FILE=image","OVER_E=image"]}}'
host_env=(HOST_ONLY=host OVER_IMG=host OVER_FILE=host OVER_E=host FROM_HOST_BY_NAME=host-value PASS=passed
  PATH=/host/bin:/usr/bin:/bin)

# val NAME: the value of NAME in $out (the output of `env`), or "<unset>".
val() { printf '%s\n' "$out" | awk -v n="$1" 'index($0, n "=") == 1 { print substr($0, length(n) + 2); f = 1 } END { if (!f) print "<unset>" }'; }

while read -r form img; do
  echo "$image_env" >"$img.config.json"

  out=$(as_user env "${host_env[@]}" "$FERRY" run --env-file "$T/vars.env" -e OVER_E=cli -e CLI_ONLY=a=b "$img" env)
  expect_eq "$(val HOST_ONLY)" host "$form host variable"
  expect_eq "$(val FROM_IMAGE)" image "$form image variable"
  expect_eq "$(val OVER_IMG)" image "$form image over host"
  expect_eq "$(val PATH)" /image/bin:/usr/bin:/bin "$form image PATH over host PATH"
  expect_eq "$(val OVER_FILE)" file "$form env-file over image"
  expect_eq "$(val OVER_E)" cli "$form -e over env-file"
  expect_eq "$(val EXPORTED)" yes "$form env-file 'export NAME=VALUE'"
  expect_eq "$(val FILE_ONLY)" with=equals "$form env-file value with '='"
  expect_eq "$(val FROM_HOST_BY_NAME)" host-value "$form env-file bare NAME"
  expect_eq "$(val CLI_ONLY)" a=b "$form -e value with '='"
  expect_eq "$(printf '%s\n' "$out" | grep -c '^OVER_E=')" 1 "$form one entry per name"

  # --cleanenv: the host's variables go, the image's stay; -e NAME still reads the host.
  out=$(as_user env "${host_env[@]}" "$FERRY" run --cleanenv -e PASS "$img" env)
  expect_eq "$(val HOST_ONLY)" "<unset>" "$form --cleanenv drops host variable"
  expect_eq "$(val OVER_IMG)" image "$form --cleanenv keeps image variable"
  expect_eq "$(val FROM_IMAGE)" image "$form --cleanenv keeps image-only variable"
  expect_eq "$(val PASS)" passed "$form --cleanenv -e NAME takes the host's value"

  # -e NAME without --cleanenv, over the image's value.
  out=$(as_user env "${host_env[@]}" "$FERRY" run -e OVER_IMG "$img" env)
  expect_eq "$(val OVER_IMG)" host "$form -e NAME over image"

  # No PATH from the image: the host's, or Docker's default under --cleanenv.
  echo '{"config":{"Env":["FROM_IMAGE=image"]}}' >"$img.config.json"
  out=$(as_user env "${host_env[@]}" "$FERRY" run "$img" env)
  expect_eq "$(val PATH)" /host/bin:/usr/bin:/bin "$form host PATH kept"
  out=$(as_user env "${host_env[@]}" "$FERRY" run --cleanenv "$img" env)
  expect_eq "$(val PATH)" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$form default PATH"
  expect_eq "$(val HOST_ONLY)" "<unset>" "$form --cleanenv without image PATH"
  rm -f "$img.config.json"
done < <(image_forms)
