#!/usr/bin/env bash
# `cloudlet image build` end to end, RUN steps in cloudlet's own runtime:
#  1. a Containerfile using every supported instruction builds on a busybox base; the image's config and files are
#     what the Containerfile says (checked in a bundle umoci unpacked from the store, and by running it with
#     `cloudlet runtime run`); RUN saw only loopback, its own PID namespace, the ARG values, the WORKDIR and USER.
#  2. reproducible: a second build hits the cache for every layer step; --no-cache, and a cleared cache after
#     `image gc`, give the same manifest digest; another --epoch (or SOURCE_DATE_EPOCH) another one.
#  3. changing a copied file rebuilds that step and the ones after it, not the ones before.
#  4. a failing RUN names its line and exit code and leaves no mount, container or work directory behind;
#     sources outside the context, URLs and unsupported instructions are refused naming the line.
#  5. `image gc` after `image rm` removes the unpacked layers and the build cache entries.
# Needs root (overlay mounts, namespaces). Usage: test_image_build.sh PATH_TO_CLOUDLET
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=$(realpath "${1:?usage: $0 PATH_TO_CLOUDLET}")
require_root
require_cmd umoci skopeo jq tar gzip
[[ -x /bin/busybox ]] || skip "needs /bin/busybox (busybox-static)"
if ! timeout 10 "$CLOUDLET" image build --help >/dev/null 2>&1; then
  [[ "${CI:-}" == "true" ]] && fail "$CLOUDLET has no \`image build\` command"
  skip "$CLOUDLET has no \`image build\` command"
fi

T=$(e2e_tmpdir)
export CLOUDLET_IMAGE_STORE=$T/store
unset SOURCE_DATE_EPOCH
img() { timeout 300 "$CLOUDLET" image "$@"; }
digest_of() { awk '/^built /{print $3}' "$1"; }
# The instructions of a build log that were taken from the cache.
cached_steps() { sed -n 's/^STEP [0-9]*\/[0-9]*: \(.*\) (cached)$/\1/p' "$1" | awk '{print $1}' | paste -sd, -; }

img import --busybox localhost/busybox:e2e >/dev/null || fail "import --busybox"

# ---- 1. a build using every instruction
C=$T/ctx
mkdir -p "$C/site/sub" "$C/tree/opt"
printf 'hello from the image\n' >"$C/site/index.html"
printf 'nested\n' >"$C/site/sub/page"
printf '#!/bin/sh\necho "app: $GREETING $(cat /etc/built-by) $(id -u)"\n' >"$C/app.sh"
chmod 0755 "$C/app.sh"
printf 'from a tarball\n' >"$C/tree/opt/packed"
tar -C "$C/tree" -czf "$C/packed.tar.gz" opt
cat >"$C/Containerfile" <<'EOF'
# syntax=docker/dockerfile:1
# every instruction cloudlet builds
ARG BASE=localhost/busybox:e2e
FROM ${BASE}
ARG BUILDER=cloudlet
ENV GREETING="hello world" \
    APP_HOME=/srv/app
LABEL org.example.title="e2e app" version=1
WORKDIR ${APP_HOME}
COPY site/ ./www/
COPY --chmod=0755 app.sh /usr/local/bin/app
ADD packed.tar.gz /
RUN echo "$BUILDER" > /etc/built-by \
 && pwd > /tmp/run-cwd \
 && grep -c : /proc/net/dev > /tmp/run-ifaces \
 && echo $$ > /tmp/run-pid \
 && rm /bin/vi
COPY --chown=65534:65534 site/sub/page /srv/owned
USER nobody
RUN id -u > /tmp/run-uid
EXPOSE 8080 53/udp
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["ignored-arg"]
EOF
img build -t localhost/app:e2e --build-arg BUILDER=e2e-builder "$C" >"$T/build1.out" 2>&1 \
  || fail "build: $(cat "$T/build1.out")"
D1=$(digest_of "$T/build1.out")
[[ $D1 == sha256:* ]] || fail "build printed no digest: $(cat "$T/build1.out")"
grep -q '^STEP 1/15: FROM ${BASE}$' "$T/build1.out" || fail "no STEP 1/15 line: $(cat "$T/build1.out")"
grep -q "7 layers built, 0 cached" "$T/build1.out" || fail "expected 7 layers built: $(cat "$T/build1.out")"
[[ $(img ls --format json | jq -r '.[] | select(.reference == "localhost/app:e2e") | .digest') == "$D1" ]] \
  || fail "localhost/app:e2e is not tagged $D1"
img verify >/dev/null || fail "image verify after build: $(img verify 2>&1)"

img inspect localhost/app:e2e >"$T/inspect.json"
jq -e '.config.config.Env | index("GREETING=hello world") and index("APP_HOME=/srv/app")' "$T/inspect.json" \
  >/dev/null || fail "Env: $(jq -c .config.config.Env "$T/inspect.json")"
jq -e '.config.config.WorkingDir == "/srv/app" and .config.config.User == "nobody"' "$T/inspect.json" >/dev/null \
  || fail "WorkingDir/User: $(jq -c .config.config "$T/inspect.json")"
jq -e '.config.config.Entrypoint == ["/usr/local/bin/app"] and .config.config.Cmd == ["ignored-arg"]' \
  "$T/inspect.json" >/dev/null || fail "Entrypoint/Cmd: $(jq -c .config.config "$T/inspect.json")"
jq -e '.config.config.Labels == {"org.example.title": "e2e app", "version": "1"}' "$T/inspect.json" >/dev/null \
  || fail "Labels: $(jq -c .config.config.Labels "$T/inspect.json")"
jq -e '.config.config.ExposedPorts | has("8080/tcp") and has("53/udp")' "$T/inspect.json" >/dev/null \
  || fail "ExposedPorts: $(jq -c .config.config.ExposedPorts "$T/inspect.json")"
assert_eq 8 "$(jq '.manifest.layers | length' "$T/inspect.json")" "layers (busybox + WORKDIR, 3 COPY, ADD, 2 RUN)"
assert_eq 1970-01-01T00:00:00Z "$(jq -r .config.created "$T/inspect.json")" "created"
assert_eq 13 "$(jq '[.config.history[] | select(.created_by != "cloudlet image import --busybox")] | length' \
  "$T/inspect.json")" "history entries of the build (every instruction but FROM and ARG)"

# skopeo reads the store; umoci unpacks the image into a bundle.
timeout 60 skopeo inspect "oci:$CLOUDLET_IMAGE_STORE:localhost/app:e2e" | jq -e --arg d "$D1" '.Digest == $d' \
  >/dev/null || fail "skopeo inspect of the built image"
timeout 120 umoci unpack --image "$CLOUDLET_IMAGE_STORE:localhost/app:e2e" "$T/bundle" >"$T/umoci.log" 2>&1 \
  || fail "umoci unpack: $(tail -5 "$T/umoci.log")"
R=$T/bundle/rootfs
assert_eq "e2e-builder" "$(cat "$R/etc/built-by")" "ARG value in RUN"
assert_eq "/srv/app" "$(cat "$R/tmp/run-cwd")" "RUN's working directory"
assert_eq 1 "$(cat "$R/tmp/run-ifaces")" "interfaces in RUN's /proc/net/dev (lo only)"
assert_eq 1 "$(cat "$R/tmp/run-pid")" "RUN's shell PID (own PID namespace)"
assert_eq 65534 "$(cat "$R/tmp/run-uid")" "USER nobody in RUN"
[[ ! -e $R/bin/vi && -e $R/bin/ls ]] || fail "rm /bin/vi in RUN did not whiteout just vi"
assert_eq "hello from the image" "$(cat "$R/srv/app/www/index.html")" "COPY site/ ./www/"
assert_eq "nested" "$(cat "$R/srv/app/www/sub/page")" "COPY of a subdirectory"
assert_eq "from a tarball" "$(cat "$R/opt/packed")" "ADD of a tar.gz"
assert_eq "755 0" "$(stat -c '%a %u' "$R/usr/local/bin/app")" "COPY --chmod=0755, owned by root"
assert_eq "65534:65534" "$(stat -c '%u:%g' "$R/srv/owned")" "COPY --chown"
assert_eq "1777" "$(stat -c '%a' "$R/tmp")" "/tmp keeps the base's mode"
[[ ! -e $R/.wh..wh..opq && -z $(find "$R" -name '.wh.*' -print -quit) ]] || fail "whiteout files in the rootfs"

# Run the built image with cloudlet's runtime (umoci's config: the image's entrypoint, cmd, env, user).
jq '.process.terminal = false' "$T/bundle/config.json" >"$T/config.json" && mv "$T/config.json" "$T/bundle/config.json"
e2e_defer "'$CLOUDLET' runtime --root '$T/rt' delete --force e2e-app-$E2E_ID >/dev/null 2>&1 || true"
out=$(timeout 60 "$CLOUDLET" runtime --root "$T/rt" run --bundle "$T/bundle" "e2e-app-$E2E_ID" 2>&1) \
  || fail "running the built image: $out"
assert_eq "app: hello world e2e-builder 65534" "$out" "output of the built image"

# ---- 2. reproducible, cached or not
img build -t localhost/app:e2e --build-arg BUILDER=e2e-builder "$C" >"$T/build2.out" 2>&1 \
  || fail "second build: $(cat "$T/build2.out")"
assert_eq "$D1" "$(digest_of "$T/build2.out")" "digest of the cached rebuild"
assert_eq "WORKDIR,COPY,COPY,ADD,RUN,COPY,RUN" "$(cached_steps "$T/build2.out")" "cached steps of the second build"
img build --no-cache -t localhost/app:e2e --build-arg BUILDER=e2e-builder "$C" >"$T/build3.out" 2>&1 \
  || fail "--no-cache build: $(cat "$T/build3.out")"
assert_eq "$D1" "$(digest_of "$T/build3.out")" "digest with --no-cache"
[[ -z $(cached_steps "$T/build3.out") ]] || fail "--no-cache used the cache: $(cat "$T/build3.out")"
img rm localhost/app:e2e >/dev/null
img gc >"$T/gc1.out" || fail "gc: $(cat "$T/gc1.out")"
grep -q "build cache entries removed" "$T/gc1.out" || fail "gc says nothing of the build cache: $(cat "$T/gc1.out")"
rm -rf "$CLOUDLET_IMAGE_STORE/build-cache"
img build -t localhost/app:e2e --build-arg BUILDER=e2e-builder "$C" >"$T/build4.out" 2>&1 \
  || fail "build after gc: $(cat "$T/build4.out")"
assert_eq "$D1" "$(digest_of "$T/build4.out")" "digest after image rm, gc and a cleared cache"
grep -q "7 layers built" "$T/build4.out" || fail "cache was used after gc: $(cat "$T/build4.out")"
img build --epoch 1700000000 -t localhost/app:epoch --build-arg BUILDER=e2e-builder "$C" >"$T/build5.out" 2>&1 \
  || fail "--epoch build: $(cat "$T/build5.out")"
D5=$(digest_of "$T/build5.out")
[[ $D5 != "$D1" ]] || fail "--epoch 1700000000 gave the same digest as epoch 0"
SOURCE_DATE_EPOCH=1700000000 img build -t localhost/app:epoch --build-arg BUILDER=e2e-builder "$C" \
  >"$T/build6.out" 2>&1 || fail "SOURCE_DATE_EPOCH build: $(cat "$T/build6.out")"
assert_eq "$D5" "$(digest_of "$T/build6.out")" "digest with SOURCE_DATE_EPOCH = --epoch"
assert_eq 2023-11-14T22:13:20Z "$(img inspect localhost/app:epoch | jq -r .config.created)" "created with --epoch"

# ---- 3. a changed source rebuilds its step and the later ones only
printf '#!/bin/sh\necho changed\n' >"$C/app.sh"
img build -t localhost/app:e2e --build-arg BUILDER=e2e-builder "$C" >"$T/build7.out" 2>&1 \
  || fail "build after a change: $(cat "$T/build7.out")"
[[ $(digest_of "$T/build7.out") != "$D1" ]] || fail "changing a copied file kept the digest"
assert_eq "WORKDIR,COPY" "$(cached_steps "$T/build7.out")" "steps cached after changing app.sh (those before it)"
grep -q "5 layers built, 2 cached" "$T/build7.out" || fail "expected 5 layers rebuilt: $(cat "$T/build7.out")"

# ---- 4. failures
mark_mounts=$(grep -c "$CLOUDLET_IMAGE_STORE" /proc/self/mountinfo || true)
mark_containers=$(ls /run/cloudlet/build 2>/dev/null | wc -l)
printf 'FROM localhost/busybox:e2e\nRUN echo about to fail\nRUN echo failing && \\\n    exit 3\n' >"$C/Failfile"
if img build -f "$C/Failfile" "$C" >"$T/fail.out" 2>&1; then fail "a build with a failing RUN succeeded"; fi
grep -q "Failfile:3: RUN echo failing &&     exit 3: exited with code 3" "$T/fail.out" \
  || fail "the failure does not name line and code: $(cat "$T/fail.out")"
grep -q "^failing$" "$T/fail.out" || fail "RUN's output was not shown: $(cat "$T/fail.out")"
assert_eq "$mark_mounts" "$(grep -c "$CLOUDLET_IMAGE_STORE" /proc/self/mountinfo || true)" "mounts left behind"
[[ -z $(ls -A "$CLOUDLET_IMAGE_STORE/build-tmp") ]] || fail "work directories left: $(ls "$CLOUDLET_IMAGE_STORE/build-tmp")"
assert_eq "$mark_containers" "$(ls /run/cloudlet/build 2>/dev/null | wc -l)" "containers left in /run/cloudlet/build"
refuse() {  # refuse EXPECTED-MESSAGE CONTAINERFILE-TEXT
  printf '%b' "$2" >"$C/Badfile"
  if img build -f "$C/Badfile" "$C" >"$T/bad.out" 2>&1; then fail "built: $2"; fi
  grep -qF -- "$1" "$T/bad.out" || fail "expected '$1', got: $(cat "$T/bad.out")"
}
refuse "Badfile:2: source ../outside is outside the build context" 'FROM scratch\nCOPY ../outside /x\n'
refuse "Badfile:3: ADD http://192.0.2.1/x: URLs are not supported" 'FROM scratch\n\nADD http://192.0.2.1/x /x\n'
refuse "Badfile:2: HEALTHCHECK is not supported" 'FROM scratch\nHEALTHCHECK CMD true\n'
refuse "Badfile:2: a second FROM: multi-stage builds are not supported" 'FROM scratch AS a\nFROM scratch\n'
refuse "pull it first: cloudlet image pull localhost/missing:1" 'FROM localhost/missing:1\n'

# ---- 5. gc removes unpacked layers no tag uses
img rm localhost/app:e2e >/dev/null
img rm localhost/app:epoch >/dev/null
img rm localhost/busybox:e2e >/dev/null
img gc >"$T/gc2.out" || fail "gc: $(cat "$T/gc2.out")"
[[ -z $(ls -A "$CLOUDLET_IMAGE_STORE/unpacked") ]] || fail "unpacked layers left after gc: $(cat "$T/gc2.out")"
[[ -z $(ls -A "$CLOUDLET_IMAGE_STORE/build-cache") ]] || fail "build cache entries left after gc"

pass "image build: every instruction, RUN in cloudlet's runtime, cache hits and misses, reproducible digests, errors"
