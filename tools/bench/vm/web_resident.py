"""What the web server keeps in the heap: microdot, its modules and the Web object."""
import gc
import json
import os
import sys

JOB = json.loads(os.getenv("BENCH_JOB"))
sys.path.append(JOB["lib"])  # lib/ is on a board's import path
import inproc_world  # noqa: E402

inproc_world.setup()
from firmware.boards import virtual  # noqa: E402 - after the virtual board's setup

virtual.WEB_PORT = -1
from firmware import app  # noqa: E402

a = app.App()
gc.collect()
b0 = gc.mem_alloc()
from firmware.services.web import server as web  # noqa: E402 - measured from here

w = web.Web(a)
gc.collect()
b1 = gc.mem_alloc()
print(json.dumps({"web": b1 - b0}))
