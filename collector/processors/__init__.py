from collector.processors.batch import BatchProcessor, BatchStats, split_columns

__all__ = ["BatchProcessor", "BatchStats", "split_columns"]
