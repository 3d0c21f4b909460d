#!/usr/bin/env bash
# `cloudlet image` against Debian's docker-registry on loopback (started here, filesystem storage in a temp dir),
# checked by tools no one here wrote:
#  1. import --busybox; push to the registry; rm locally; pull back: the same manifest digest, `image verify` clean.
#  2. skopeo inspect of what cloudlet pushed reports that digest; skopeo copies it to an oci: layout; umoci unpacks
#     the image straight from cloudlet's store (an OCI image layout) into a bundle with a working busybox rootfs.
#  3. push under a second repository name: the blobs are mounted across repositories, nothing is uploaded.
#  4. an image skopeo pushed (from cloudlet's store, converted to a Docker schema2 manifest) pulls into a fresh
#     store with the digest skopeo reports.
#  5. plain http to a non-loopback registry is refused, naming --insecure.
#  6. (root) the issue's chain: `image build` (COPY + RUN on the busybox base), push, `image rm`, pull: the same
#     manifest digest; skopeo inspect agrees; umoci unpacks the pulled image and cloudlet's runtime runs it.
# Root is not needed for 1-5 (CI runs it as root). Usage: test_image_registry.sh PATH_TO_CLOUDLET
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=$(realpath "${1:?usage: $0 PATH_TO_CLOUDLET}")
require_cmd docker-registry skopeo umoci jq python3
[[ -x /bin/busybox ]] || skip "needs /bin/busybox (busybox-static)"
if ! timeout 10 "$CLOUDLET" image --help >/dev/null 2>&1; then
  [[ "${CI:-}" == "true" ]] && fail "$CLOUDLET has no \`image\` command"
  skip "$CLOUDLET has no \`image\` command (src/cli/cli.cc does not wire cmd_image.cc yet)"
fi

T=$(e2e_tmpdir)
export CLOUDLET_IMAGE_STORE=$T/store
img() { timeout 120 "$CLOUDLET" image "$@"; }

# ---- the registry
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/registry"
cat >"$T/registry.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
e2e_bg "$T/registry.log" /usr/bin/docker-registry serve "$T/registry.yml"
wait_for "curl -sf http://127.0.0.1:$port/v2/" 20 || fail "docker-registry did not start: $(tail -5 "$T/registry.log")"
R=127.0.0.1:$port
e2e_log "registry on $R"

# ---- 1. import, push, rm, pull
img import --busybox localhost/busybox:e2e >"$T/import.out" || fail "import --busybox: $(cat "$T/import.out")"
digest=$(awk '{print $2}' "$T/import.out")
[[ $digest == sha256:* ]] || fail "import printed no digest: $(cat "$T/import.out")"
img push localhost/busybox:e2e "$R/e2e/busybox:1" >"$T/push.out" 2>&1 || fail "push: $(cat "$T/push.out")"
grep -q "2 blobs uploaded" "$T/push.out" || fail "push did not upload config and layer: $(cat "$T/push.out")"
img rm localhost/busybox:e2e >/dev/null
[[ $(img ls --format json | jq length) == 0 ]] || fail "store not empty after rm: $(img ls)"
img pull "$R/e2e/busybox:1" >"$T/pull.out" 2>&1 || fail "pull: $(cat "$T/pull.out")"
pulled=$(img ls --format json | jq -r --arg r "$R/e2e/busybox:1" '.[] | select(.reference == $r) | .digest')
assert_eq "$digest" "$pulled" "manifest digest after push, rm, pull"
img verify >/dev/null || fail "image verify after pull: $(img verify 2>&1)"
img inspect "$R/e2e/busybox:1" | jq -e '.config.config.Cmd == ["sh"]' >/dev/null || fail "inspect: Cmd is not [sh]"

# ---- 2. skopeo and umoci read what cloudlet wrote
skopeo_digest=$(timeout 60 skopeo inspect --tls-verify=false "docker://$R/e2e/busybox:1" | jq -r .Digest)
assert_eq "$digest" "$skopeo_digest" "skopeo inspect's digest"
timeout 120 skopeo copy -q --src-tls-verify=false "docker://$R/e2e/busybox:1" "oci:$T/skopeo-oci:bb" \
  || fail "skopeo copy to an oci: layout"
if [[ $(id -u) -eq 0 ]]; then umoci_flags=(); else umoci_flags=(--rootless); fi
timeout 120 umoci unpack "${umoci_flags[@]}" --image "$CLOUDLET_IMAGE_STORE:$R/e2e/busybox:1" "$T/bundle" \
  >"$T/umoci.log" 2>&1 || fail "umoci unpack of cloudlet's store: $(tail -5 "$T/umoci.log")"
[[ -x $T/bundle/rootfs/bin/busybox && -L $T/bundle/rootfs/bin/sh ]] || fail "umoci's rootfs lacks bin/busybox, bin/sh"
"$T/bundle/rootfs/bin/busybox" true || fail "the unpacked busybox does not run"

# ---- 3. cross-repository mount
img push "$R/e2e/busybox:1" "$R/e2e/other:1" >"$T/mount.out" 2>&1 || fail "push to a second repo: $(cat "$T/mount.out")"
grep -q "0 blobs uploaded, 0 already there, 2 mounted" "$T/mount.out" || fail "expected 2 mounts: $(cat "$T/mount.out")"
if grep -E '"(PATCH|PUT) /v2/e2e/other/blobs/uploads' "$T/registry.log"; then
  fail "the registry saw a blob upload to e2e/other"
fi
grep -q 'POST /v2/e2e/other/blobs/uploads/?mount=' "$T/registry.log" || fail "no mount request in the registry's log"
other=$(timeout 60 skopeo inspect --tls-verify=false "docker://$R/e2e/other:1" | jq -r .Digest)
assert_eq "$digest" "$other" "digest of the mounted copy"

# ---- 4. pull what skopeo pushed (its own Docker schema2 manifest of the image)
timeout 120 skopeo copy -q --dest-tls-verify=false --format v2s2 \
  "oci:$CLOUDLET_IMAGE_STORE:$R/e2e/busybox:1" "docker://$R/e2e/docker:1" || fail "skopeo copy from cloudlet's store"
docker_digest=$(timeout 60 skopeo inspect --tls-verify=false "docker://$R/e2e/docker:1" | jq -r .Digest)
[[ $docker_digest != "$digest" ]] || fail "skopeo did not convert the manifest (same digest)"
CLOUDLET_IMAGE_STORE=$T/store2 img pull "$R/e2e/docker:1" >"$T/pull2.out" 2>&1 || fail "pull of skopeo's push: $(cat "$T/pull2.out")"
got=$(CLOUDLET_IMAGE_STORE=$T/store2 img ls --format json | jq -r '.[0].digest')
assert_eq "$docker_digest" "$got" "digest of the image skopeo pushed, pulled by cloudlet"
CLOUDLET_IMAGE_STORE=$T/store2 img inspect "$R/e2e/docker:1" | jq -e '.media_type | test("docker")' \
  >/dev/null || fail "the pulled manifest is not Docker's"
CLOUDLET_IMAGE_STORE=$T/store2 img verify >/dev/null || fail "image verify of the second store"

# ---- 5. plain http elsewhere is refused
if img pull "http://192.0.2.1:5000/x:1" >"$T/insecure.out" 2>&1; then fail "plain http to 192.0.2.1 was allowed"; fi
grep -q -- "--insecure" "$T/insecure.out" || fail "the refusal does not say how to allow it: $(cat "$T/insecure.out")"

# ---- 6. build, push, rm, pull, run
if [[ $(id -u) -ne 0 ]]; then
  e2e_log "not root: skipping build -> push -> pull -> run (RUN steps need root)"
  pass "image push/pull round trip, skopeo and umoci agree, cross-repo mount, skopeo-pushed image pulled"
fi
export CLOUDLET_IMAGE_STORE=$T/store3
img import --busybox localhost/busybox:e2e >/dev/null || fail "import --busybox into the third store"
mkdir -p "$T/ctx"
printf '#!/bin/sh\necho "built app says $(cat /greeting)"\n' >"$T/ctx/app.sh"
cat >"$T/ctx/Containerfile" <<'EOF'
FROM localhost/busybox:e2e
COPY app.sh /usr/local/bin/app
RUN chmod 0755 /usr/local/bin/app && echo hi-from-run > /greeting
CMD ["/usr/local/bin/app"]
EOF
img build -t localhost/built:1 "$T/ctx" >"$T/build.out" 2>&1 || fail "build: $(cat "$T/build.out")"
built=$(awk '/^built /{print $3}' "$T/build.out")
[[ $built == sha256:* ]] || fail "build printed no digest: $(cat "$T/build.out")"
img push localhost/built:1 "$R/e2e/built:1" >"$T/push3.out" 2>&1 || fail "push of the built image: $(cat "$T/push3.out")"
img rm localhost/built:1 >/dev/null
img rm localhost/busybox:e2e >/dev/null
[[ $(img ls --format json | jq length) == 0 ]] || fail "store not empty after rm: $(img ls)"
img pull "$R/e2e/built:1" >"$T/pull3.out" 2>&1 || fail "pull of the built image: $(cat "$T/pull3.out")"
pulled=$(img ls --format json | jq -r --arg r "$R/e2e/built:1" '.[] | select(.reference == $r) | .digest')
assert_eq "$built" "$pulled" "digest of the built image after push, rm, pull"
assert_eq "$built" "$(timeout 60 skopeo inspect --tls-verify=false "docker://$R/e2e/built:1" | jq -r .Digest)" \
  "skopeo inspect's digest of the built image"
timeout 120 umoci unpack --image "$CLOUDLET_IMAGE_STORE:$R/e2e/built:1" "$T/built-bundle" >"$T/umoci3.log" 2>&1 \
  || fail "umoci unpack of the pulled built image: $(tail -5 "$T/umoci3.log")"
jq '.process.terminal = false' "$T/built-bundle/config.json" >"$T/config3.json"
mv "$T/config3.json" "$T/built-bundle/config.json"
e2e_defer "'$CLOUDLET' runtime --root '$T/rt' delete --force e2e-built-$E2E_ID >/dev/null 2>&1 || true"
out=$(timeout 60 "$CLOUDLET" runtime --root "$T/rt" run --bundle "$T/built-bundle" "e2e-built-$E2E_ID" 2>&1) \
  || fail "running the pulled built image: $out"
assert_eq "built app says hi-from-run" "$out" "output of the built, pushed and pulled image"

pass "image push/pull round trip, skopeo and umoci agree, cross-repo mount, skopeo-pushed image pulled, built image round trip runs"
