"""imagestore: the shared layer (settings, single-table access, S3, auth, domain errors).

Importing it first starts two cold-start measures: in Lambda the garbage collector waits until the
first request is served (imagestore.startup), and Powertools' re-export packages load name by name
(imagestore.lazy_imports): every handler imports the layer before it needs Powertools' event handler,
which imagestore.api provides.
"""

from imagestore.startup import pause_gc_while_loading

pause_gc_while_loading()

from imagestore.lazy_imports import POWERTOOLS_REEXPORTS, reexport_lazily  # noqa: E402

for _package in POWERTOOLS_REEXPORTS:
    reexport_lazily(_package)
