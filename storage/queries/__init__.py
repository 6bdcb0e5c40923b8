"""Read queries: SQL templates and the functions that run them and decode rows."""
