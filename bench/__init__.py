"""The project's benchmarks (``make bench``): each ``bench/bench_*.py`` has a ``main()``."""
