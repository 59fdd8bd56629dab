# Typed records for the compiled twin (acd/engine/records.pxd): the locals `cython.locals` names.
from acd.engine.records cimport Agent, Appointment, Call, Callback

# The handlers `cpdef`, the line typed (sixteenth round): its attributes read at their offsets and
# its `cpdef` methods (line.pxd) called in C. The engine calls them through its registry, by
# name, as before.
from acd.engine.line cimport Line

cpdef object on_offered(Line line, object e, object t, object now, object commands)
cpdef object on_answered(Line line, object e, object t, object now, object commands)
cpdef object on_unanswered(Line line, object e, object t, object now, object commands)
cpdef object on_ended(Line line, object e, object t, object now, object commands)
cpdef object on_agent_state(Line line, object e, object t, object now, object commands)
cpdef object on_accepted(Line line, object e, object t, object now, object commands)
cpdef object on_survey(Line line, object e, object t, object now, object commands)
