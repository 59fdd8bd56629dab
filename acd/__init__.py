"""acd: an automatic call distributor for a national contact-centre network."""

from acd import compiled

__version__ = "0.1.0"

# The hot modules' compiled twins, when `acd compile` built them from the source as it is now
# (acd/compiled.py); the source otherwise.
compiled.install()
