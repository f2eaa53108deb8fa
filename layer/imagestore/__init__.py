"""imagestore: the shared layer (settings, single-table access, S3, auth, domain errors).

Importing it first makes Powertools' re-export packages load name by name (imagestore.lazy_imports):
every handler imports the layer before it needs Powertools' event handler, which imagestore.api provides.
"""

from imagestore.lazy_imports import POWERTOOLS_REEXPORTS, reexport_lazily

for _package in POWERTOOLS_REEXPORTS:
    reexport_lazily(_package)
