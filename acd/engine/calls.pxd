# Typed records for the compiled twin (acd/engine/records.pxd): the locals `cython.locals` names.
from acd.engine.records cimport Agent, Appointment, Call, Callback
