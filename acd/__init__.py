"""acd: an automatic call distributor for a national contact-centre network."""

__version__ = "0.1.0"
