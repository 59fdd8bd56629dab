# The records as Cython extension types when compiled (acd/compiled.py): their fields at fixed
# offsets, read without a look-up by name from the code that declares their type (line.pxd and
# the others' `cython.locals`). Augments records.py, which stays the source of truth: the fields
# here are its fields, in its order (Cython's dataclass takes the order from this file); `object`
# unless the type is certain, so a value reads back as it was written, compiled or not.

cdef class Agent:
    cdef public object id, site, skills, target, row, reason, call_id, state_changed_at
    cdef public object wrap_token, calls_handled

cdef class Call:
    cdef public object id, caller, skill, priority, offered_at, seq, department, language, needs
    cdef public object preferred_agent_id, kind, status, row, enqueued_at, agent_id, connected_at
    cdef public object answered_at, ended_at, end_reason, survey_score, callback_id, callback_at
    cdef public object service_id, stranded, timer_token, unanswered
    cdef public list history

cdef class Callback:
    cdef public object id, number, skill, status, created_at, due_at, call_id, department
    cdef public object agent_id, attempts, requested, token, first_dial_at
    cdef public list history

cdef class Appointment:
    cdef public object id, number, skill, site, start, end, status, created_at, department
    cdef public object agent_id, attempts, token, reminded
    cdef public list history
