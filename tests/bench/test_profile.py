import json
import subprocess
import sys

from bench import profile
from tests.bridge import test_hotpath

LISTING = """\
--------------------------------------------------------------------------------
449,214,361 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
Ir                      file:function
--------------------------------------------------------------------------------
1,796,856,430 (400.0%)  /b/Python/ceval.c:_PyEval_EvalFrameDefault'2 [/lib/libpython3.11.so.1.0]
  449,214,361 (100.0%)  /b/Python/ceval.c:_PyEval_EvalFrameDefault [/lib/libpython3.11.so.1.0]
  102,992,905 (22.93%)  ???:_cffi_f_srtp_protect [/site/pylibsrtp/_binding.abi3.so]
   81,364,939 (18.11%)  /project/libsrtp.source/srtp/srtp.c:srtp_protect [/site/pylibsrtp/_binding.abi3.so]
    6,721,562 ( 1.50%)  ./Include/object.h:long_and [/lib/libpython3.11.so.1.0]
    6,226,340 ( 1.39%)  Objects/longobject.c:long_and
"""


def test_inclusive_costs_take_each_functions_whole_and_skip_recursion_levels_exclusive_ones_add_fragments():
    inclusive = profile.costs(LISTING, inclusive=True)
    assert inclusive["_PyEval_EvalFrameDefault"] == 449_214_361  # not its '2 level, which counts callers again
    assert inclusive["srtp_protect"] == 81_364_939 and inclusive["_cffi_f_srtp_protect"] == 102_992_905
    assert inclusive["long_and"] == 6_721_562
    assert "PROGRAM" not in inclusive and "TOTALS" not in inclusive
    assert profile.costs(LISTING, inclusive=False)["long_and"] == 6_721_562 + 6_226_340


def test_the_harness_counts_inside_the_function_the_profile_collects_in_and_reports_its_packets():
    assert profile.COLLECT == test_hotpath.COLLECT
    out = subprocess.run([sys.executable, "-m", "tests.bridge.test_hotpath", "--callgrind", "--participants", "3",
                          "--seconds", "0.2"], capture_output=True, text=True, check=True, timeout=120).stdout
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["inbound"] > 0 and counts["forwarded"] > 0 and counts["rejected"] == counts["unknown_ssrc"] == 0
