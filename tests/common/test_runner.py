"""The shared entry point: the open-files limit is raised before any service starts."""

from __future__ import annotations

import resource

from jitsi_py.common.runner import raise_fd_limit


def test_the_soft_open_files_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        raised = raise_fd_limit()
        assert raised > 256 and resource.getrlimit(resource.RLIMIT_NOFILE) == (raised, hard)
        assert raised == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
