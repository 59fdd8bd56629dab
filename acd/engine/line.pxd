# The compiled twin's typed parts (acd/compiled.py; docs/performance.md, fourteenth round): the
# records as extension types (acd/engine/records.pxd), named by the `cython.locals` of line.py,
# and the line itself an extension type whose attributes its methods read at fixed offsets (an
# `Engine` extends it, an extension type too: core.pxd). Every attribute the line's hot path
# reads is declared here; from the source none of this applies.
from acd.engine.ewt cimport AbandonmentTracker, AhtTracker, ServiceRateTracker
from acd.engine.records cimport Agent, Appointment, Call, Callback
from acd.engine.timers cimport Timers

cdef class Line:
    cdef public object config, observer, skills, skill_index, router, agents, _agent_by_row
    cdef public object calls, _call_by_row, _ended, _seq, _last_now, _site_ids
    cdef public object waiting_by_skill, plain_waiting_by_skill, staffed_by_skill, _ewt_dirty
    cdef public object calendar, today
    # the parts the hot path calls, typed (timers.pxd, ewt.pxd): their methods called in C
    cdef public Timers timers
    cdef public AhtTracker aht
    cdef public ServiceRateTracker service_rate
    cdef public AbandonmentTracker abandonment
    cdef public object _seen_digest, _pending, _leaving, _reported_at, _last_sync_at, _held
    cdef public object _no_answer, flagged, _watchdog_at, _opening_at
    cdef public object _idempotency_ttl_s, _ended_retention, _wrap_up_s, _ewt_unstaffed_s
    cdef public object _preferred_wait_s, _max_wait_s, _rona_pause, _survey_share
    cdef public object _survey_default, _max_no_answer, _ts_skew_s, _watchdog_s
    cdef public object _max_answered_s, _busy_without_call_s, _max_ringing_s, _max_waiting_s
    cdef public object outbound, callback_book, overflow_rules, callbacks, appointments
    cdef public object appointment_book, overflow

    # The hot methods `cpdef` (sixteenth round): called in C by the code that knows the line's
    # type (its own methods, the engine's, the handlers of acd/engine/calls.pxd), by name from
    # Python as before. Arguments `object` as the source wrote them, the records typed.
    cpdef object _preference(self, Call call)
    cpdef object _enqueue(self, Call call, object preference=*)
    cpdef object _dequeue(self, Call call)
    cpdef object _served_from_line(self, Call call, object now, object paced=*)
    cpdef object _try_route(self, Call call, object now, object commands)
    cpdef object _connect(self, Call call, Agent agent, object now, object commands, object notify)
    cpdef object _offer_work(self, Agent agent, object now, object commands, object paced=*)
    cpdef object _may_dial(self, Call call, object now)
    cpdef object _arm_call_timer(self, Call call, object now)
    cpdef object queue_decision(self, Call call, object position=*, object ewt=*)
    cpdef object expected_wait(self, Call call, object position)
    cpdef object skill_wait(self, object skill, object position, object staffed)
    cpdef object skill_wait_reaches(self, object skill, object position, object staffed, object cut)
    cpdef object _line_rate(self, object skill, object staffed)
    cpdef object _end_call(self, Call call, object reason, object t, object now, object commands)
    cpdef object _observe_handle(self, Agent agent, Call call, object t)
    cpdef object _maybe_survey(self, Call call, object now, object commands)
    cpdef object _finish_call(self, Call call, object t, object now, object reason)
    cpdef object _agent_event(self, Agent agent, object event, object t, object now, object commands, Call call=*, object reason=*)
    cpdef object _set_state(self, Agent agent, object state, object t)
    cpdef object _count_staffed(self, object skills, object delta)
    cpdef object _record(self, Call call, object now, object entry)
    cpdef object _command(self, Call call, object name, object decision, object now)
    cpdef object agent_state(self, Agent agent)
