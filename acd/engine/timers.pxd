# The timers as an extension type in the compiled twin (acd/compiled.py; docs/performance.md,
# fifteenth round): its heap and sequence at fixed offsets, its methods called in C by the code
# that knows its type (the line's `timers`, line.pxd). From the source none of this applies.

cdef class Timers:
    cdef public object _heap, _seq
    cpdef object set(self, object at, object kind, object key, object token)
    cpdef object pop_due(self, object now)
    cpdef object next_live_at(self, object is_live)
