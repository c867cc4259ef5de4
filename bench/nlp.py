"""Classification speed: texts/second of `socialcrm classify` on 10,000 tweets, and peak memory.

Reads the tweets in place from ../shared/data (TweetEval sentiment, train then val) into a
temporary file, then runs the real command twice in fresh processes:
  1. on one line, to measure start-up (imports, model load, few-shot heads);
  2. on all N lines, end to end.
texts/s is N divided by the second run's time less the start-up, so it is the steady rate
that a long input or the pipeline sees; the end-to-end rate is printed too.
Peak memory is the maximum resident set of the second run.

    .venv/bin/python bench/nlp.py [--count N] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [str(Path(sys.executable).parent / "socialcrm"), "classify"]


def tweets(data: Path, count: int) -> list[str]:
    """The first `count` tweets of TweetEval sentiment train (then val), as the data has them."""
    folder = data / "tweeteval" / "sentiment"
    lines: list[str] = []
    for part in ("train", "val"):
        lines += (folder / f"{part}_text.txt").read_text(encoding="utf-8").splitlines()
    return lines[:count]


def timed_run(source: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one `socialcrm classify` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [*COMMAND, "--input", str(source), "--output", os.devnull],
        check=True,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    return elapsed, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    if not (args.data / "tweeteval").is_dir():
        sys.exit(f"no data at {args.data}: pass --data DIR (the folder holding tweeteval/)")
    texts = tweets(args.data, args.count)
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one.txt", Path(tmp) / "many.txt"
        one.write_text(texts[0] + "\n", encoding="utf-8")
        many.write_text("\n".join(texts) + "\n", encoding="utf-8")
        startup, _ = timed_run(one)
        total, peak_kib = timed_run(many)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"texts: {len(texts)} tweets (TweetEval sentiment)")
    print(f"start-up (load model, fit few-shot heads): {startup:.1f} s")
    print(f"end to end: {total:.1f} s = {len(texts) / total:.0f} texts/s")
    print(f"steady rate: {len(texts) / (total - startup):.0f} texts/s")
    print(f"peak memory: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
