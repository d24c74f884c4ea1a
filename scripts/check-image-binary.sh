#!/usr/bin/env bash
# Checks deploy/Dockerfile's build step where there is no Docker: builds the
# image's binary with the very command the Dockerfile runs (make
# image-binary), then checks it is static, as a FROM scratch image needs,
# and that it runs a program on a fixture model with nothing but itself.
set -euo pipefail
cd "$(dirname "$0")/.."
make image-binary
bin=bin/paw-image
if ! file "$bin" | grep -q 'statically linked'; then
	echo "check-image-binary: $bin is not static: $(file "$bin")" >&2
	exit 1
fi
grep -q 'make image-binary IMAGE_MARCH=${IMAGE_MARCH}' deploy/Dockerfile ||
	{ echo "check-image-binary: deploy/Dockerfile no longer builds with make image-binary" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# An empty environment, as in the image: no PATH, no HOME, no libraries.
run() { env -i PAW_CACHE_DIR="$tmp/cache" PAW_OFFLINE=1 PAW_QUIET=1 "$bin" "$@"; }
run version
run fixture --preset gpt2-tiny -o "$tmp/base.gguf"
run fixture --preset gpt2-tiny --adapter-rank 32 -o "$tmp/adapter.gguf"
echo "Say whether the text is about cats." >"$tmp/pseudo.txt"
run pack --pseudo-program "$tmp/pseudo.txt" --adapter "$tmp/adapter.gguf" --interpreter gpt2 -o "$tmp/p.paw" >/dev/null
run run "$tmp/p.paw" --model "$tmp/base.gguf" --input "my cat" --max-tokens 2 --json
echo "check-image-binary: ok ($(du -h "$bin" | cut -f1), $(file -b "$bin" | cut -d, -f1-2))"
