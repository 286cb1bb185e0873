"""The load tester: a client only, so it measures any server; ours always beside an anchor."""
