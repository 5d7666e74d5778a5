"""Compatibility modules: the old flat modules whose names now live in several places
(:data:`l2lab.MOVED`). New code imports from the wings."""
