"""Entities of the single table: each owns its keys (through imagestore.keys) and its to_item/from_item.

Their validators are built when first used (defer_build): a function builds only the entities it
touches (cold start)."""
