"""The `datamesh` command line."""
