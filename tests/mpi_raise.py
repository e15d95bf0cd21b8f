"""Run by tests/test_parallel.py as `mpiexec -n 2 python tests/mpi_raise.py`: rank 1 raises
while rank 0 waits in a collective. The excepthook of `parallel.init()` must abort both."""
import time

import numpy as np

from funcgrad import parallel

parallel.init()
if parallel.rank() == 1:
    time.sleep(0.2)
    raise ValueError("rank 1 fails on purpose")
parallel.psum(np.ones(3))  # never completes: rank 1 is gone
print("rank 0 passed a collective that rank 1 never joined", flush=True)
