"""tango-macroserver: a Tango device server in the style of Sardana's MacroServer."""

import logging

# A library's loggers stay silent unless the program adds a handler (the device server's
# ServerLog); without this, Python would print warnings and errors to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
