#!/usr/bin/env python3
"""Times commands in alternation: one run of each per round, so a machine whose speed drifts
(a shared VM: 10-20% from one minute to the next) slows every command alike, which back-to-back
batches of runs (hyperfine's) do not. Prints, per command, the median, mean and minimum wall
time and the median CPU time (user + system, children included) over the rounds after the first.

Usage:
  benches/alternate.py [--rounds N] [--json FILE] [--prepare NAME CMD]... --run NAME CMD [--run NAME CMD]...

A command's `--prepare` runs before each of its runs, untimed. `--json FILE` also writes the
figures there, per command: {"median": s, "mean": s, "min": s, "cpu_median": s}. Example, the worker at two
concurrencies against `convert` (see benches/worker.sh for the setup):
  benches/alternate.py --rounds 25 \\
    --run convert "thumbnail-worker convert -j 2 -p profile -p album-art -o out photos/*" \\
    --prepare c2 "rm -rf data && thumbnail-worker upload photos/*" \\
    --run c2 "THUMBNAIL_CONCURRENCY=2 thumbnail-worker run --exit-when-idle" \\
    --prepare c4 "rm -rf data && thumbnail-worker upload photos/*" \\
    --run c4 "THUMBNAIL_CONCURRENCY=4 thumbnail-worker run --exit-when-idle"
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--prepare", nargs=2, action="append", default=[], metavar=("NAME", "CMD"))
    parser.add_argument("--run", nargs=2, action="append", required=True, metavar=("NAME", "CMD"))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    prepare = dict(args.prepare)
    unknown = set(prepare) - {name for name, _ in args.run}
    if unknown:
        parser.error(f"--prepare for no --run: {', '.join(sorted(unknown))}")
    wall = {name: [] for name, _ in args.run}
    cpu = {name: [] for name, _ in args.run}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    # Round 0 warms the page cache and the binaries, and is not counted.
    for round_ in range(args.rounds + 1):
        for name, command in args.run:
            if name in prepare:
                run(f"{name}'s --prepare", prepare[name], quiet)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            run(name, command, quiet)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if round_:
                wall[name].append(elapsed)
                cpu[name].append(
                    after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                )
    figures = {
        name: {
            "median": statistics.median(wall[name]),
            "mean": statistics.mean(wall[name]),
            "min": min(wall[name]),
            "cpu_median": statistics.median(cpu[name]),
        }
        for name, _ in args.run
    }
    print(f"{args.rounds} rounds, one run of each command per round")
    for name, f in figures.items():
        print(
            f"{name:12} median {f['median']:.3f} s  mean {f['mean']:.3f} s  "
            f"min {f['min']:.3f} s  CPU median {f['cpu_median']:.3f} s"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out)


def run(what: str, command: str, quiet: dict) -> None:
    """Runs `command`; a failure ends the timing: a command that fails is not measured."""
    status = subprocess.run(command, shell=True, **quiet).returncode
    if status != 0:
        sys.exit(f"alternate.py: {what} failed (exit status {status}): {command}")


if __name__ == "__main__":
    main()
