"""Storage backends behind one interface: `Store`."""

from .base import Changes, Cursor, StorageError, Store, WriteTransaction

__all__ = ["Changes", "Cursor", "StorageError", "Store", "WriteTransaction"]
