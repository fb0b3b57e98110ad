"""flows.sweep on a local Dask cluster against the same points one by one in one process.

    .venv/bin/python -m bench.sweep_speed [--spec sweeps/digits-cnn.toml] [--workers 2]

Both runs start from an empty cache; prints their wall-clock times, the speed-up and
whether every row is the same (it must be). The default spec is the 40 points of every
coding × T 4, 6, 8, 12 × lanes 1, 4 on the digits CNN: on the MLP a point takes a fraction
of a second, and a one-process run that already uses both cores for its BLAS and PyTorch
calls is as fast as two workers that each warm up every coding (measured: 12.5 s both).
"""
import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from flows.sweep import load_spec, run_points

SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "digits-cnn.toml"


def timed(points, **engine) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="snn-bench-sweep-") as cache:
        started = time.perf_counter()
        outcomes = run_points(points, cache_dir=Path(cache), progress=False, **engine)
        seconds = time.perf_counter() - started
    return seconds, {json.dumps(o["point"], sort_keys=True): o.get("row", o.get("error"))
                     for o in outcomes}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_speed")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    points = load_spec(args.spec).points()
    print(f"flows.sweep, {args.spec.name}: {len(points)} points (golden + cycles), empty cache, "
          f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    one_seconds, one_rows = timed(points, workers=0)
    print(f"  one by one, one process        {one_seconds:7.1f} s")
    cluster_seconds, cluster_rows = timed(points, workers=args.workers)
    print(f"  local cluster, {args.workers} workers        {cluster_seconds:7.1f} s "
          "(cluster start-up included)")
    print(f"  speed-up                        {one_seconds / cluster_seconds:7.2f}x")
    print(f"  same rows                       {'yes' if one_rows == cluster_rows else 'NO'}")


if __name__ == "__main__":
    main()
