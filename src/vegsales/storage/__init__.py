"""Storage backends behind one interface: `Store`."""

from .base import TABLES, Changes, Cursor, StorageError, Store, StoreBusy, WriteTransaction

__all__ = ["TABLES", "Changes", "Cursor", "StorageError", "Store", "StoreBusy", "WriteTransaction"]
