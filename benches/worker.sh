#!/usr/bin/env bash
# Times the worker on the local backend (`run --exit-when-idle` over a queue of uploads) beside
# `convert` on the same files and presets, and `convert -j 2` beside `convert -j 1`: what the queue,
# the buckets, the manifests and the notifications add to the image work, and how it scales.
#
# Usage: benches/worker.sh [DIR]      (default: ../shared/corpus beside the repository)
# COPIES (default 3) copies of each JPEG and PNG in DIR are uploaded; PRESETS (default the
# worker's, profile,album-art); RUNS (default 5) runs of each, after one warm-up.
# Needs: hyperfine (apt-get install -y hyperfine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-$root/../shared/corpus}" && pwd)
runs=${RUNS:-5} copies=${COPIES:-3} presets=${PRESETS:-profile,album-art}
command -v hyperfine >/dev/null || { echo "worker.sh needs hyperfine: apt-get install -y hyperfine" >&2; exit 2; }

cargo build --release --quiet -p thumbnail-worker --manifest-path "$root/Cargo.toml"
ours="$root/target/release/thumbnail-worker"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Real copies with names of their own: thumbnails are written under the source's name, and
# `convert` reads a file linked twice once.
mkdir -p "$out/photos"
shopt -s nullglob nocaseglob
for file in "$dir"/*.jpg "$dir"/*.jpeg "$dir"/*.png; do
  for i in $(seq "$copies"); do cp "$file" "$out/photos/$i-$(basename "$file")"; done
done
shopt -u nullglob nocaseglob
files=("$out"/photos/*)
[ ${#files[@]} -gt 0 ] || { echo "no JPEG or PNG in $dir" >&2; exit 2; }
preset_flags=""
for preset in ${presets//,/ }; do preset_flags+=" --preset $preset"; done
cores=$(nproc)

# mean and standard deviation, in seconds, of a command (after one warm-up; PREPARE before each run)
mean() {
  hyperfine --warmup 1 --runs "$runs" --export-json "$out/t.json" --output=null \
    ${PREPARE:+--prepare "$PREPARE"} "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$out/t.json"
}

echo "${#files[@]} images ($copies copies of each in $dir), presets $presets, $runs runs each, $cores cores"
j1=$(mean "$ours convert -j 1$preset_flags --output-dir $out/convert ${files[*]}")
jn=$(mean "$ours convert -j $cores$preset_flags --output-dir $out/convert ${files[*]}")
# Each run starts from the same state: a fresh local backend with the uploads announced.
data="$out/data"
export THUMBNAIL_LOCAL_DIR="$data" THUMBNAIL_PRESETS="$presets" RUST_LOG=warn
PREPARE="rm -rf $data && $ours upload ${files[*]} >/dev/null 2>&1"
worker=$(PREPARE="$PREPARE" mean "$ours run --exit-when-idle")
made=$(find "$data/buckets/thumbnails" -type f | wc -l)
python3 - "$j1" "$jn" "$worker" "$cores" "$made" <<'PY'
import sys
(j1, _), (jn, jn_sd), (w, w_sd) = (map(float, a.split()) for a in sys.argv[1:4])
cores, made = sys.argv[4], sys.argv[5]
print(f"convert -j 1            {j1:7.3f} s")
print(f"convert -j {cores}            {jn:7.3f} s (sd {jn_sd:.3f})   scaling {j1/jn:.2f}x")
print(f"worker run, local       {w:7.3f} s (sd {w_sd:.3f})   {w/jn:.2f}x convert -j {cores}; {made} files in the thumbnail bucket")
PY
