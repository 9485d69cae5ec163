"""SQL over the archive: `sdp query` (DuckDB locally, Athena on AWS), the named queries,
the `records` view and its Glue catalog entries, and `sdp dashboard`."""
