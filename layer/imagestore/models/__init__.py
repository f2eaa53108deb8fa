"""Entities of the single table: each owns its keys (through imagestore.keys) and its to_item/from_item."""
