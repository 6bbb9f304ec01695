#!/usr/bin/env bash
# Times the worker on the local backend (`run --exit-when-idle` over a queue of uploads) beside
# `convert` on the same files and presets, and `convert -j N` (N = the cores) beside `convert -j 1`:
# what the queue, the buckets, the manifests and the notifications add to the image work, and how
# it scales.
#
# Usage: benches/worker.sh [DIR]      (default: ../shared/corpus beside the repository)
# COPIES (default 3) copies of each JPEG and PNG in DIR are uploaded; PRESETS (default the
# worker's, profile,album-art); ROUNDS (default 15) rounds, after one warm-up.
#
# The three commands are timed in alternation, one run of each per round (benches/alternate.py),
# and compared by their medians: on a shared machine whose speed drifts by 10-20% from one minute
# to the next, batches of runs of one command and then of the next (as hyperfine takes them) put
# the drift into the ratios. The CPU time (user + system, all threads) says how much of a
# difference is work done and how much is cores left idle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-$root/../shared/corpus}" && pwd)
rounds=${ROUNDS:-15} copies=${COPIES:-3} presets=${PRESETS:-profile,album-art}

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

echo "${#files[@]} images ($copies copies of each in $dir), presets $presets, $cores cores"
# Each worker run starts from the same state: a fresh local backend with the uploads in it, which
# the worker finds and announces itself, as it does on a laptop.
data="$out/data"
export THUMBNAIL_LOCAL_DIR="$data" THUMBNAIL_PRESETS="$presets" RUST_LOG=warn
"$root/benches/alternate.py" --rounds "$rounds" --json "$out/times.json" \
  --run "convert-j1" "$ours convert -j 1$preset_flags --output-dir $out/convert ${files[*]}" \
  --run "convert-j$cores" "$ours convert -j $cores$preset_flags --output-dir $out/convert ${files[*]}" \
  --prepare worker "rm -rf $data && $ours upload ${files[*]}" \
  --run worker "$ours run --exit-when-idle"
made=$(find "$data/buckets/thumbnails" -type f | wc -l)
python3 - "$out/times.json" "$cores" "$made" <<'PY'
import json, sys
times, cores, made = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
j1, jn, w = times["convert-j1"], times[f"convert-j{cores}"], times["worker"]
busy = lambda t: t["cpu_median"] / t["median"]
print()
print(f"convert -j 1   median {j1['median']:6.3f} s   CPU {j1['cpu_median']:6.3f} s")
print(f"convert -j {cores}   median {jn['median']:6.3f} s   CPU {jn['cpu_median']:6.3f} s   "
      f"{busy(jn):.2f} cores busy   scaling {j1['median'] / jn['median']:.2f}x")
print(f"worker, local  median {w['median']:6.3f} s   CPU {w['cpu_median']:6.3f} s   "
      f"{busy(w):.2f} cores busy   {w['median'] / jn['median']:.2f}x convert -j {cores} "
      f"(CPU {w['cpu_median'] / jn['cpu_median']:.2f}x); {made} files in the thumbnail bucket")
PY
