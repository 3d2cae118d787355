"""Mutation testing of the code a user's answer passes through: how many deliberate small breakages the tests catch.

    python -m measure.mutation                     # every module of setup.cfg's [mutmut] only_mutate (hours)
    python -m measure.mutation ecg/typicality.py   # one module

mutmut (a development requirement, configured in setup.cfg) copies the code into mutants/, changes one thing at a
time (an operator, a constant, a return value) and runs the tests that reach it. This prints, per module, the
share of mutants killed (a test failed) among those tested, and lists the survivors: each is either a test to
write or an equivalent mutant (one no behaviour can tell apart), to be named in docs/mutation.md with the reason.
Not run in CI: a full run takes hours on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("inference.py", "ecg/typicality.py", "ecg/record.py", "ecg/context.py", "ecg/preprocessing.py", "app.py")
# mutmut forks a process per mutant from one that has already run the tests, and thread pools (PyTorch's OpenMP) are
# not safe across a fork: stop 45's first run, with the default threads and beside a context fit, timed out on every
# mutant it reached; with one thread each, on an idle machine, none timed out.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
KILLED = {1, 3, 36, 37, 24, -24, 152, 255}  # mutmut's exit codes for a failing test, a time-out or a type error
SURVIVED = 0


# app.py is mostly layout, reached only by the browser tests CI runs apart; what a user reads comes from these
# functions, so only they are mutated there (issue 44: "the verdict and summary functions of app.py").
ANSWER_FUNCTIONS = {"app.py": ("verdict_html", "summary_html", "outside_classes", "lead_choices", "channel_number",
                               "context_switch_text")}


def mutant_globs(path: str) -> list[str]:
    """mutmut's mutant-name patterns for a module: its dotted name, or its answer functions' where it has them."""
    dotted = path.removesuffix(".py").replace("/", ".")
    functions = ANSWER_FUNCTIONS.get(path)
    return [f"{dotted}.x_{f}__mutmut_*" for f in functions] if functions else [f"{dotted}.*"]


def measured(path: str, name: str) -> bool:
    """Whether a mutant of this module is one `mutant_globs` runs."""
    functions = ANSWER_FUNCTIONS.get(path)
    function = re.search(r"\.x_(\w+?)__mutmut_", name)  # methods are named otherwise ("app.xǁStripǁfigure__…")
    return not functions or bool(function and function.group(1) in functions)


def results(path: str) -> Counter:
    """Killed, survived and untested mutants of one module, from mutmut's record of its last run."""
    meta = ROOT / "mutants" / f"{path}.meta"
    counts: Counter = Counter()
    if not meta.is_file():
        return counts
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        if not measured(path, name):
            continue
        if code in KILLED:
            counts["killed"] += 1
        elif code == SURVIVED:
            counts["survived"] += 1
            counts[f"survivor {name}"] += 1
        else:
            counts["not tested"] += 1
    return counts


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.mutation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("modules", nargs="*", default=list(MODULES))
    args = p.parse_args()
    globs = [glob for path in args.modules for glob in mutant_globs(path)]
    subprocess.run([sys.executable, "-m", "mutmut", "run", *globs, "--max-children", "2"], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL, env={**os.environ, **ONE_THREAD})
    print("| module | killed | survived | not tested | killed of tested |\n|---|---:|---:|---:|---:|")
    for path in args.modules:
        c = results(path)
        tested = c["killed"] + c["survived"]
        share = f"{c['killed'] / tested:.0%}" if tested else "–"
        print(f"| {path} | {c['killed']} | {c['survived']} | {c['not tested']} | {share} |")
    for path in args.modules:
        for key in sorted(k for k in results(path) if k.startswith("survivor ")):
            print(f"survived: {key.removeprefix('survivor ')} (mutmut show {key.removeprefix('survivor ')})")


if __name__ == "__main__":
    main()
