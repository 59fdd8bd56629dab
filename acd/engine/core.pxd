# The engine as an extension type in the compiled twin (acd/compiled.py; docs/performance.md,
# fifteenth round): the typed line (line.pxd) with the engine's own attributes at fixed offsets,
# and no instance `__dict__`, so its methods read `self` without a look-up by name and a method
# called on the engine is found in its type alone. Every attribute an `Engine` is given is
# declared here; from the source none of this applies.
cimport cython

from acd.engine.line cimport Line
from acd.engine.records cimport Agent, Call

cdef class Engine(Line):
    cdef public object _seen, _seen_ignored, _seen_expiry
    cdef object __weakref__  # the parts hold the engine through weak proxies

    # asked of every timer (the simulator's `next_wakeup` after each batch): its records typed
    @cython.locals(call=Call, agent=Agent)
    cpdef object _timer_live(self, object timer)
