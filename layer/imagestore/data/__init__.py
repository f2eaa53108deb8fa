"""Data access: the single table and the image bucket. SDK errors become domain errors here."""
