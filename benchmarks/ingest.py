"""Ingest throughput and peak memory for generated datasets (default 100k and 1M records).

For each size N it writes N synthetic records (plus 1% exact duplicates and 0.1% broken lines)
to a JSONL file, then runs, each in its own process so peak RSS is that run's alone:

- baseline: read the file line by line and ``json.loads`` each line (the floor any loader pays);
- ingest:   ``medgrpo.data.ingest.ingest(..., deid=False)`` — load, detect, validate, ids, shards,
  dedup, split, manifest, atomic publish;

and prints records/s and peak RSS side by side with their ratio. Memory is bounded when the
ingest's peak RSS grows far slower than N. De-identification throughput is reported separately
on a small sample (``--deid-sample``), since the engine, not the data path, dominates it.

    python benchmarks/ingest.py                 # 100k and 1M
    python benchmarks/ingest.py --sizes 20000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if mode == "baseline":
    n = 0
    with open(src, "rb") as fh:
        for line in fh:
            try:
                json.loads(line)
            except ValueError:
                pass
            n += 1
    counts = {"read": n}
elif mode == "ingest":
    from medgrpo.data.ingest import ingest
    counts = ingest([src], out, deid=False).counts
else:
    from medgrpo.data.ingest import ingest
    counts = ingest([src], out, deid=True).counts
elapsed = time.perf_counter() - t
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mib": peak_kib / 1024, "counts": counts}))
"""


def _write_source(path: Path, n: int, seed: int) -> None:
    from medgrpo.data import synth

    with path.open("w", encoding="utf-8") as fh:
        for i, record in enumerate(synth.generate(n, seed=seed)):
            line = json.dumps(record, ensure_ascii=False)
            fh.write(line + "\n")
            if i % 100 == 0:  # 1% exact duplicates
                fh.write(line + "\n")
            if i % 1000 == 0:  # 0.1% broken lines
                fh.write(line[: len(line) // 2] + "\n")


def _run(mode: str, src: Path, out: Path) -> dict[str, object]:
    env = {
        **os.environ,
        # synthetic data: ids from the public development key; the source-id map next to the run's files
        "MEDGRPO_ALLOW_DEV_ID_KEY": "true",
        "MEDGRPO_ID_MAP_ROOT": str(out.parent / "id-maps"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(src), str(out)], capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated record counts")
    parser.add_argument(
        "--deid-sample", type=int, default=500, help="records for the de-identification figure (0: skip)"
    )
    parser.add_argument("--workdir", default=None, help="where to write files (default: a temp dir, removed after)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tmp = tempfile.TemporaryDirectory(dir=args.workdir)
    work = Path(tmp.name)
    print(f"{'records':>10} {'mode':>9} {'rows read':>10} {'seconds':>8} {'records/s':>10} {'peak MiB':>9}")
    rows: list[tuple[int, dict[str, object], dict[str, object]]] = []
    for n in sizes:
        src = work / f"synth-{n}.jsonl"
        t = time.perf_counter()
        _write_source(src, n, seed=n)
        gen_s = time.perf_counter() - t
        base = _run("baseline", src, work / "unused")
        ing = _run("ingest", src, work / f"ds-{n}")
        for mode, res in (("baseline", base), ("ingest", ing)):
            read = res["counts"]["read"]  # type: ignore[index]
            secs = float(res["seconds"])  # type: ignore[arg-type]
            print(f"{n:>10} {mode:>9} {read:>10} {secs:>8.1f} {read / secs:>10.0f} {res['peak_mib']:>9.0f}")
        c = ing["counts"]
        assert isinstance(c, dict)
        assert c["read"] == c["train"] + c["eval"] + c["quarantined"] + c["duplicates"], c
        print(
            f"{'':>10} {'ratio':>9} {'':>10} {float(ing['seconds']) / float(base['seconds']):>7.1f}x "  # type: ignore[arg-type]
            f"{'':>10} {float(ing['peak_mib']) / float(base['peak_mib']):>8.1f}x   "  # type: ignore[arg-type]
            f"(generation {n / gen_s:.0f} records/s; counts {json.dumps(c)})"
        )
        rows.append((n, base, ing))
        src.unlink()
    if len(rows) >= 2:
        (n0, _, a), (n1, _, b) = rows[0], rows[-1]
        print(
            f"memory growth: {n1 / n0:.0f}x records -> {float(b['peak_mib']) / float(a['peak_mib']):.2f}x peak RSS"  # type: ignore[arg-type]
        )
    if args.deid_sample:
        src = work / "deid-sample.jsonl"
        _write_source(src, args.deid_sample, seed=1)
        res = _run("deid", src, work / "ds-deid")
        read = res["counts"]["read"]  # type: ignore[index]
        print(
            f"de-identification (engine load included): {read} records in {float(res['seconds']):.1f} s "  # type: ignore[arg-type]
            f"= {read / float(res['seconds']):.0f} records/s, peak {float(res['peak_mib']):.0f} MiB"  # type: ignore[arg-type]
        )
    tmp.cleanup()
    _ = resource  # parent process figures are not reported (children report their own)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
