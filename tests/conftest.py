"""Makes the helper modules of ``tests/`` (``toy_data``, ``chapter_text``, ...) importable by
module name from test files in any subfolder (tests/theory, tests/engine, tests/data, ...)."""
import os
import sys

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
