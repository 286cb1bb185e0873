"""Hypothesis profiles for the fuzz tests (``@pytest.mark.fuzz``, beside each parser's unit tests).

``bounded`` (the default) is what ``make test`` runs: a few derandomized examples per parser, so
the whole fuzz set costs seconds and never flakes on timing. ``fuzz`` is ``make fuzz``: many
examples, random each run, a deadline that catches a parser spending unbounded time on one input,
failures kept in ``.hypothesis/`` and replayed first next time. ``HYPOTHESIS_PROFILE`` selects.

And a guard around the rendering of a failure (below).
"""

import gc
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "bounded", max_examples=40, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")), deadline=2000, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """CPython 3.11's ast.parse, which renders a failure's traceback, raises "AST constructor recursion
    depth mismatch" when a finalizer runs inside it: a collection there of a task a failed test left
    pending once ended a whole CI run with INTERNALERROR. So garbage goes first, and none during the rendering."""
    if call.excinfo is None:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
