"""HTTP routes. They read the database or the in-memory snapshot; they never fetch upstream feeds."""
