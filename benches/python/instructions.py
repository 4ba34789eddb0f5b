"""Instructions per operation under callgrind: `make bench-instructions`.

Runs every operation of the `instructions` driver (benches/src/bin/instructions.rs) under
`valgrind --tool=callgrind` twice, with N1 and N2 iterations, and takes

    Ir per operation = (Ir(N2) - Ir(N1)) / (N2 - N1)

from the totals of the two out files: the setup (process start, passport, policy compilation, the
first checked call) is the same in both runs and cancels out; no symbol names are needed. An
instruction count does not depend on what else the machine runs, so the numbers repeat on a loaded
machine where wall-clock medians do not.

Writes the measurements as JSON and the section "Instructions per operation (callgrind)" of
benches/RESULTS.md (between the markers below: replaced in place, or inserted before the scale
section on the first run; the rest of the file is left as it is). benches/python/report.py, which
rewrites RESULTS.md in `make bench`, keeps the marked section.

Usage: instructions.py --bin PATH --json OUT_JSON --md RESULTS_MD [--n1 N] [--n2 N] [--jobs J]
       [--only OP ...]
Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

BEGIN = "<!-- instructions:begin (written by benches/python/instructions.py; make bench-instructions) -->"
END = "<!-- instructions:end -->"
TITLE = "## Instructions per operation (callgrind)"
# The section goes before this heading when RESULTS.md has none yet.
INSERT_BEFORE = "## Scale (Rust)"

CASES = ["allow", "deny-amount", "deny-daily-cap"]
BASELINE = "passgate-dry-run-supplied"
ENGINES = [
    (BASELINE, "passgate, state supplied (`dry_run`; the baseline)"),
    ("passgate-dry-run-memory", "passgate, memory store (`dry_run`, counters built by real calls)"),
    ("passgate-enforce-cached", "passgate `enforce`, memory store, cached passport (signed, chained record)"),
    ("passgate-enforce-uncached", "passgate `enforce`, passport cache off (`verify_strict` per call)"),
    ("cedar-prebuilt", "cedar-policy, request pre-built (`is_authorized` only)"),
    ("cedar-json", "cedar-policy, context from JSON + `Request::new` + `is_authorized`"),
    ("regorus-interp", "regorus interpreter (`set_input` + `eval_rule`)"),
    ("regorus-rvm", "regorus RVM (`set_input` + `execute`)"),
]
FLOORS = [
    ("floor-sign", "floor: SHA-256 of the attestation record + Ed25519 sign"),
    ("floor-verify-strict", "floor: `verify_strict` of a signature over a passport-sized message"),
]


def callgrind_total(out_file: Path) -> int:
    """The total `Ir` of a callgrind out file (its `totals:` line, else `summary:`)."""
    summary = None
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
        if line.startswith("summary:"):
            summary = int(line.split()[1])
    if summary is None:
        raise SystemExit(f"{out_file}: no totals or summary line")
    return summary


def valgrind_run(binary: str, args: list[str], out_file: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out_file}", binary, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


def measure(binary: str, op: str, n1: int, n2: int, repeat: int, tmp: Path) -> dict[str, Any]:
    """`repeat` pairs of runs of `op`: the Ir per operation of each pair, their median, their spread
    ((max - min) / median)."""
    pairs = []
    for r in range(repeat):
        totals = []
        for n in (n1, n2):
            out = tmp / f"{op.replace('/', '_')}.{r}.{n}.out"
            valgrind_run(binary, [op, str(n)], out)
            totals.append(callgrind_total(out))
            out.unlink()
        pairs.append({"ir_n1": totals[0], "ir_n2": totals[1], "ir_per_op": (totals[1] - totals[0]) / (n2 - n1)})
    values = [p["ir_per_op"] for p in pairs]
    med = statistics.median(values)
    spread = (max(values) - min(values)) / med if med > 0 else 0.0
    return {"ir_per_op": med, "spread": spread, "runs": pairs}


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def loadavg() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_probe(binary: str, tmp: Path) -> dict[str, Any]:
    """Whether the SHA extensions are visible natively and under valgrind."""
    native = json.loads(sh([binary, "--cpu"]) or "{}").get("sha_ni")
    p = valgrind_run(binary, ["--cpu"], tmp / "cpu.out")
    under = json.loads(p.stdout.strip() or "{}").get("sha_ni")
    return {"sha_ni_native": native, "sha_ni_under_valgrind": under}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the instructions driver (release build)")
    ap.add_argument("--json", required=True, type=Path)
    ap.add_argument("--md", required=True, type=Path)
    ap.add_argument("--n1", type=int, default=100)
    ap.add_argument("--n2", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=2, help="pairs of runs per operation (the median is reported)")
    ap.add_argument("--jobs", type=int, default=1, help="valgrind runs at once (counts do not depend on it)")
    ap.add_argument("--only", nargs="*", help="these operations only (the section is not rewritten)")
    a = ap.parse_args()
    if not 0 < a.n1 < a.n2 or a.repeat < 1:
        raise SystemExit("need 0 < n1 < n2 and repeat >= 1")

    started = time.monotonic()
    repo = Path(__file__).resolve().parents[2]
    dirty = bool(sh(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"]))
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": loadavg(),
        "commit": sh(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]) + (" (dirty)" if dirty else ""),
        "valgrind": sh(["valgrind", "--version"]),
        "rustc": sh(["rustc", "--version"]),
        "cpus": os.cpu_count(),
        "n1": a.n1,
        "n2": a.n2,
        "repeat": a.repeat,
    }
    ops = a.only or sh([a.bin, "--list"]).splitlines()
    if not ops:
        raise SystemExit(f"{a.bin} --list gave no operations")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="passgate-instr-") as t:
        tmp = Path(t)
        meta.update(cpu_probe(a.bin, tmp))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            futures = {op: pool.submit(measure, a.bin, op, a.n1, a.n2, a.repeat, tmp) for op in ops}
            for op, fut in futures.items():
                results[op] = fut.result()
                r = results[op]
                print(f"{op:40} {r['ir_per_op']:>14,.0f} Ir/op  (spread {100 * r['spread']:.2f}%)", flush=True)
    meta["load_end"] = loadavg()
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    data = {**meta, "ops": results}
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {a.json} ({meta['elapsed_s']} s)")
    if a.only:
        return
    old = a.md.read_text() if a.md.exists() else ""
    a.md.write_text(splice(old, render(data)))
    print(f"wrote the section of {a.md}")


def fmt_ir(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def fmt_ratio(v: float | None, base: float | None) -> str:
    if v is None or base is None or base <= 0:
        return "—"
    return f"{v / base:.2f}×"


def render(data: dict[str, Any]) -> str:
    """The marked section, markers included."""
    ops: dict[str, dict[str, Any]] = data["ops"]

    def ir(op: str) -> float | None:
        r = ops.get(op)
        return None if r is None else float(r["ir_per_op"])

    md: list[str] = [BEGIN, TITLE, ""]
    w = md.append
    spreads = sorted(((float(r.get("spread", 0.0)), op) for op, r in ops.items()), reverse=True)
    worst = spreads[0] if spreads else (0.0, "—")
    rep = int(data.get("repeat", 1))
    w("`make bench-instructions`: each operation of tier 1 and tier 2 in a loop under")
    w("`valgrind --tool=callgrind` (driver: `benches/src/bin/instructions.rs`, release profile), run")
    w(f"with N1 = {data['n1']:,} and N2 = {data['n2']:,} iterations; Ir per operation = (Ir(N2) − Ir(N1)) / (N2 − N1),")
    w("from the totals of the two runs: the setup cancels out. Instruction counts do not depend on the")
    w("machine's load (wall-clock medians do). They do move a little between processes: passports,")
    w("keys and ids are random and hash maps are seeded per process, so data-dependent work (variable-")
    w(f"time signature verification, hash-map probing) differs; each pair was run {rep} time(s) in separate")
    w(f"processes and the table shows the median; the largest spread between them was {100 * worst[0]:.2f}%")
    w(f"(`{worst[1]}`). Instructions are not time: they ignore cache misses, branch mispredictions and")
    w("instruction-level parallelism.\n")
    w(f"- date: {data['date']}; commit: {data['commit']}; {data['valgrind']}; {data['rustc']}")
    w(f"- load average (1 / 5 / 15 min) at the start: {data['load_start']}; at the end: {data['load_end']}"
      f" ({data['elapsed_s']:.0f} s for the whole run)")
    native, under = data.get("sha_ni_native"), data.get("sha_ni_under_valgrind")
    w(f"- SHA extensions (SHA-NI) visible natively: {_yn(native)}; under valgrind: {_yn(under)}."
      + (" valgrind's emulated CPU hides them, so `sha2` takes its software path under callgrind:"
         " SHA-256-heavy work (the floor's hash of the record, `enforce`'s record hash and"
         " `request_hash`, an uncached passport's token hash) is over-counted relative to a native run."
         if native and not under else ""))
    w("")
    w(f"Ratio = the row's Ir / passgate's state-supplied `dry_run` Ir for the same case (for a peer,")
    w("> 1: passgate executes fewer instructions; for passgate's own rows, what the extra work costs).\n")
    w("| engine | " + " | ".join(f"{k} Ir | ratio" for k in CASES) + " |")
    w("|---|" + "---:|---:|" * len(CASES))
    base = {k: ir(f"{BASELINE}/{k}") for k in CASES}
    for key, label in ENGINES:
        if not any(f"{key}/{k}" in ops for k in CASES):
            continue
        cells = [f"{fmt_ir(ir(f'{key}/{k}'))} | {fmt_ratio(ir(f'{key}/{k}'), base[k])}" for k in CASES]
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    w("| floor | Ir | ratio to passgate `dry_run` (allow) |")
    w("|---|---:|---:|")
    for key, label in FLOORS:
        w(f"| {label} | {fmt_ir(ir(key))} | {fmt_ratio(ir(key), base['allow'])} |")
    w("")
    w("`passgate-enforce-cached/allow` runs with the counter bounds raised (every iteration admitted and")
    w("counted; the memory store's log grows through the run, so this is the mean over the N1..N2 calls).")
    w(END)
    return "\n".join(md) + "\n"


def _yn(v: object) -> str:
    return "unknown" if v is None else ("yes" if v else "no")


def extract(text: str) -> str | None:
    """The marked section of `text` (markers included, with its newline), or None."""
    i = text.find(BEGIN)
    j = text.find(END, i + 1) if i >= 0 else -1
    if i < 0 or j < 0:
        return None
    return text[i : j + len(END)] + "\n"


def splice(text: str, section: str) -> str:
    """`text` with its marked section replaced by `section` (or `section` inserted before the scale
    heading, else appended)."""
    i = text.find(BEGIN)
    j = text.find(END, i + 1) if i >= 0 else -1
    if i >= 0 and j >= 0:
        rest = text[j + len(END) :]
        return text[:i] + section.rstrip("\n") + rest
    k = text.find("\n" + INSERT_BEFORE)
    if k >= 0:
        return text[: k + 1] + section + "\n" + text[k + 1 :]
    return (text.rstrip("\n") + "\n\n" if text else "") + section


if __name__ == "__main__":
    main()
