"""Converters from raw interaction logs to reranking samples and veRL parquet files."""
