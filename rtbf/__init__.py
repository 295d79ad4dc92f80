"""rtbf: right-to-be-forgotten for language models.

This package holds what every side shares and nothing heavy: the settings object, the request format,
PII helpers and the ``rtbf`` command line. It never imports torch or the database layer at import time.
"""

__version__ = "0.1.0"
