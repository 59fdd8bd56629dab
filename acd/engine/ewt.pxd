# The expected wait's trackers as extension types in the compiled twin (acd/compiled.py;
# docs/performance.md, fifteenth round): their moving sums at fixed offsets, their methods
# called in C by the code that knows their type (the line's `aht`, `abandonment` and
# `service_rate`, line.pxd). Every field `object`, as the source wrote it; a subclass may still
# override a method (the tests' staffed-only estimate). From the source none of this applies.

cdef class AhtTracker:
    cdef public object _aht, _alpha
    cpdef object observe(self, object skill, object seconds)

cdef class AbandonmentTracker:
    cdef public object _alpha, _abandons, _waited, _seen
    cpdef object observe(self, object skill, object waited_s, object abandoned)

cdef class ServiceRateTracker:
    cdef public object _entries, _busy, _since
    cpdef object line_busy(self, object skill, object busy, object now)
    cpdef object busy_since(self, object skill)
    cpdef object entered_service(self, object skill, object now)
    cpdef object rate(self, object skill, object now)
