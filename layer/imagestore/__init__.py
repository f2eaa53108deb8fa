"""imagestore: the shared layer (settings, single-table access, S3, auth, domain errors)."""
