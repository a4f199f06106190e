import os

# One BLAS thread: the report's matrices are small and the test machine is shared (see docs/analysis.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
