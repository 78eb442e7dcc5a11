"""Scripts the benchmark runs in the MicroPython VM (`Ctx.vm`): each reads its job from
the BENCH_JOB environment variable (JSON) and prints one JSON line."""
