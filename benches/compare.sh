#!/usr/bin/env bash
# Times `thumbnail-worker convert` beside vipsthumbnail on one folder of photos, one thread and one
# process for the whole folder each, and prints throughput and peak RSS side by side; then each
# JPEG and PNG alone (time and peak RSS, one process per file), and each HEIC/HEIF/AVIF file alone
# (vipsthumbnail reads those its libheif reads, else "-").
#
# Usage: benches/compare.sh [DIR]      (default: ../shared/corpus beside the repository)
# FEATURES=avif-input builds ours with AVIF input (needs cmake).
# Needs: hyperfine and GNU time; vipsthumbnail (Debian libvips-tools) for the comparison column.
#   apt-get install -y hyperfine time libvips-tools
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-$root/../shared/corpus}" && pwd)
runs=${RUNS:-5}
for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "compare.sh needs $tool: apt-get install -y hyperfine time" >&2; exit 2; }
done
have_vips=$(command -v vipsthumbnail >/dev/null && echo yes || echo no)

cargo build --release --quiet -p thumbnail-worker --manifest-path "$root/Cargo.toml" \
  ${FEATURES:+--features "$FEATURES"}
ours="$root/target/release/thumbnail-worker"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
shopt -s nullglob nocaseglob
files=("$dir"/*.jpg "$dir"/*.jpeg "$dir"/*.png)
heifs=("$dir"/*.heic "$dir"/*.heif "$dir"/*.hif "$dir"/*.avif)
# Off again: an unmatched `[Q=80,strip]` in a command below must stay as written.
shopt -u nocaseglob nullglob
[ ${#files[@]} -gt 0 ] || [ ${#heifs[@]} -gt 0 ] || { echo "no images in $dir" >&2; exit 2; }
export VIPS_CONCURRENCY=1

# mean seconds of a command over $runs runs (after one warm-up)
mean() {
  hyperfine --warmup 1 --runs "$runs" --export-json "$out/t.json" --output=null "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$out/t.json"
}
peak_mib() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'; }

if [ ${#files[@]} -gt 0 ]; then
n=${#files[@]}
echo "folder: $dir ($n images), $runs runs each, one thread"
printf '%-32s %10s %8s %10s %8s %8s\n' "task" "ours s" "img/s" "vips s" "img/s" "speedup"
row() { # name, our command, vips command
  local t_ours t_vips
  t_ours=$(mean "$2")
  if [ "$have_vips" = yes ]; then t_vips=$(mean "$3"); else t_vips=nan; fi
  python3 - "$1" "$t_ours" "$t_vips" "$n" <<'PY'
import sys, math
name, a, b, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
vb = "-" if math.isnan(b) else f"{b:.3f}"
vr = "-" if math.isnan(b) else f"{n/b:.1f}"
sp = "-" if math.isnan(b) else f"{b/a:.2f}x"
print(f"{name:<32} {a:>10.3f} {n/a:>8.1f} {vb:>10} {vr:>8} {sp:>8}")
PY
}
row "cover 256x256, q80" \
  "$ours convert -j 1 --size 256x256 --fit cover -q 80 --output-dir $out/ours ${files[*]}" \
  "vipsthumbnail ${files[*]} --size 256x256 --smartcrop centre -o '$out/%s.jpg[Q=80,strip]'"
row "contain 1024x1024, q80" \
  "$ours convert -j 1 --size 1024x1024 --fit contain -q 80 --output-dir $out/ours ${files[*]}" \
  "vipsthumbnail ${files[*]} --size 1024x1024 -o '$out/%s.jpg[Q=80,strip]'"
row "cover 256x256, AVIF q60" \
  "$ours convert -j 1 --size 256x256 --fit cover -q 60 --format avif --output-dir $out/ours ${files[*]}" \
  "vipsthumbnail ${files[*]} --size 256x256 --smartcrop centre -o '$out/%s.avif[Q=60,strip]'"
one=$(mean "$ours convert -j 1 --preset album-art --output-dir $out/ours ${files[*]}")
five=$(mean "$ours convert -j 1 --preset profile --preset album-art-small --preset album-art --preset preview --size 256x256 --fit cover --output-dir $out/ours ${files[*]}")
python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f"five outputs from one decode: {b:.3f} s, one preset: {a:.3f} s, ratio {b/a:.2f}x")' "$one" "$five"

echo "each file alone, 256x256 cover q80, one process per file:"
printf '  %-34s %9s %9s %8s %10s %10s\n' "file" "ours s" "vips s" "speedup" "ours MiB" "vips MiB"
for file in "${files[@]}"; do
  t_ours=$(mean "$ours convert -j 1 --size 256x256 --fit cover -q 80 --output-dir $out/ours $file")
  rss_ours=$(peak_mib "$ours" convert -j 1 --size 256x256 --fit cover -q 80 --output-dir "$out/ours" "$file")
  if [ "$have_vips" = yes ]; then
    t_vips=$(mean "vipsthumbnail $file --size 256x256 --smartcrop centre -o '$out/one.jpg[Q=80,strip]'")
    rss_vips=$(peak_mib vipsthumbnail "$file" --size 256x256 --smartcrop centre -o "$out/one.jpg[Q=80,strip]")
  else
    t_vips=nan rss_vips=-
  fi
  python3 - "$(basename "$file")" "$t_ours" "$t_vips" "$rss_ours" "$rss_vips" <<'PY'
import sys, math
name, a, b, ra, rb = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
vb = "-" if math.isnan(b) else f"{b:.3f}"
sp = "-" if math.isnan(b) else f"{b/a:.2f}x"
print(f"  {name:<34} {a:>9.3f} {vb:>9} {sp:>8} {ra:>10} {rb:>10}")
PY
done

largest=$(ls -S "${files[@]}" | head -1)
shopt -s nocaseglob nullglob; jpegs=("$dir"/*.jpg "$dir"/*.jpeg); shopt -u nocaseglob nullglob
largest_jpeg=$largest
if [ ${#jpegs[@]} -gt 0 ]; then largest_jpeg=$(ls -S "${jpegs[@]}" | head -1); fi
printf '%s\n' "$largest_jpeg" "$largest" | sort -u | while read -r file; do
  echo "peak RSS, $(basename "$file") to 256x256 cover:"
  echo "  ours: $(peak_mib "$ours" convert -j 1 --size 256x256 --fit cover --output-dir "$out/ours" "$file") MiB"
  if [ "$have_vips" = yes ]; then
    echo "  vips: $(peak_mib vipsthumbnail "$file" --size 256x256 --smartcrop centre -o "$out/big.jpg[Q=80,strip]") MiB"
  fi
done
fi

# HEIF-family files one at a time: 256x256 cover to JPEG q80, time and peak RSS each.
if [ ${#heifs[@]} -gt 0 ]; then
  echo "HEIC/HEIF/AVIF, one file at a time, $runs runs each, one thread, 256x256 cover:"
  printf '%-28s %10s %10s %10s %10s\n' "file" "ours s" "ours MiB" "vips s" "vips MiB"
  for file in "${heifs[@]}"; do
    ours_cmd="$ours convert -j 1 --size 256x256 --fit cover -q 80 --output-dir $out/ours $file"
    vips_cmd="vipsthumbnail $file --size 256x256 --smartcrop centre -o $out/h.jpg[Q=80,strip]"
    t_ours=$(mean "$ours_cmd")
    m_ours=$(peak_mib $ours_cmd)
    t_vips=-; m_vips=-
    if [ "$have_vips" = yes ] && $vips_cmd >/dev/null 2>&1; then
      t_vips=$(printf '%.3f' "$(mean "$vips_cmd")")
      m_vips=$(peak_mib $vips_cmd)
    fi
    printf '%-28s %10.3f %10s %10s %10s\n' "$(basename "$file")" "$t_ours" "$m_ours" "$t_vips" "$m_vips"
  done
fi
