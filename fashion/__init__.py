"""Fashion image pipeline: plain modules that run without TorchServe.

The request flow is decode -> preprocess -> predict -> postprocess -> encode; TorchServe handlers in
``handlers/`` are thin adapters over these modules.

Importing ``fashion`` makes OpenMP's idle threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE unless set):
between the models' forwards the pipeline's own work (masks, the face step, colours, crops) needs the cores that
torch's idle OpenMP threads would spin on (measured in process on 2 cores: 0.82x the wall time, 0.72x the CPU,
BENCHMARKS.md). OpenMP reads it once, when torch loads: import ``fashion`` before ``torch`` (or set it in the
environment); ``fashion.threads.wait_policy_applies`` says whether it was in time. The TorchServe launcher sets the
same for its workers.
"""
import os as _os
import sys as _sys

#: OMP_WAIT_POLICY as the environment had it before this package (None: unset; child processes may want that).
USER_WAIT_POLICY = _os.environ.get("OMP_WAIT_POLICY")
#: False when torch was loaded before this package set OMP_WAIT_POLICY (then OpenMP spins as before).
WAIT_POLICY_IN_TIME = "OMP_WAIT_POLICY" in _os.environ or "torch" not in _sys.modules
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
