"""What the tests and the benchmarks share: servers started as real processes (`servers`), and the
two-replica PostgreSQL topology behind nginx (`topology`). Not part of the package: imported from the
repository's root (pytest's rootdir, `python -m bench.<name>`)."""
