#!/usr/bin/env bash
# Measures what sizes the Deployment's memory request: the resident memory
# of `paw serve` with its base model loaded, then after each of N programs
# is loaded and called once (adapter + prefix state).
#   deploy/measure-memory.sh BASE.gguf PSEUDO.txt [N]
# The README's figures: the full-shape Qwen3-0.6B Q4_0 fixture (make demo
# writes .demo/qwen3-0.6b-fixture-q4_0.gguf and .demo/pseudo.txt) with
# rank-64 fixture adapters, the official program shape.
set -euo pipefail
base=$1 pseudo=$2 n=${3:-4}
paw=${PAW:-bin/paw}
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PAW_CACHE_DIR=$tmp/cache PAW_OFFLINE=1 PAW_QUIET=1
ids=()
for i in $(seq 1 "$n"); do
	"$paw" fixture --preset qwen3-0.6b --adapter-rank 64 --seed "$i" -o "$tmp/a$i.gguf"
	ids+=("$("$paw" pack --pseudo-program "$pseudo" --adapter "$tmp/a$i.gguf" --interpreter qwen3 -o "$tmp/p$i.paw" --json |
		sed 's/.*"program_id":"\([0-9a-f]*\)".*/\1/')")
	"$paw" push "$tmp/p$i.paw" >/dev/null
done
"$paw" serve --addr 127.0.0.1:$port --model "$base" --max-loaded 64 --no-drafts 2>"$tmp/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.2; done
rss() { awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status; }
echo "{\"programs\":0,\"rss_mib\":$(rss)}"
for i in $(seq 1 "$n"); do
	curl -sf "http://127.0.0.1:$port/api/v1/infer" -H 'Content-Type: application/json' \
		-d "{\"program_id\":\"${ids[$((i - 1))]}\",\"input\":\"Server down since 3am, customers cannot log in\",\"max_tokens\":4}" >/dev/null
	echo "{\"programs\":$i,\"rss_mib\":$(rss)}"
done
