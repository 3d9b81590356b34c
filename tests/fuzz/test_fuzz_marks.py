"""The mark mutator (bench/fuzz_marks.py) keeps working: a small run of it, as a
platform would run the full one, in a real process (docs/fuzzing.md)."""

import os
import re
import subprocess
import sys

from helpers import REPO_ROOT


def test_a_small_mutator_run_finds_no_valid_mutant_and_says_so():
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench/fuzz_marks.py"), "--cases", "2000",
                           "--certificates", "12", "--workers", "2"], capture_output=True, text=True, timeout=600,
                          check=False, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in log, log
    assert done.stdout.rstrip().endswith("\nOK"), done.stdout
    found = re.search(r"^0 valid among ([\d,]+) mutated inputs whose bytes differ from a genuine mark$",
                      done.stdout, re.MULTILINE)
    equivalent = re.search(r"^equivalent to genuine: ([\d,]+) inputs", done.stdout, re.MULTILINE)
    assert found and equivalent, done.stdout
    assert int(found[1].replace(",", "")) + int(equivalent[1].replace(",", "")) == 2000
    assert int(found[1].replace(",", "")) > 1500
    table = re.search(r"^kind .*?^all ", done.stdout, re.MULTILINE | re.DOTALL)[0]
    kinds = [re.split(r"\s{2,}", line) for line in table.splitlines()[1:-1]]   # between the header and "all"
    assert len(kinds) == 41 and all(int(k[1].replace(",", "")) > 0 for k in kinds), table   # every kind ran
