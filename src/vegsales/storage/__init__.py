"""Storage backends behind one interface: `Store`."""

from .base import Changes, Cursor, StorageError, Store, StoreBusy, WriteTransaction

__all__ = ["Changes", "Cursor", "StorageError", "Store", "StoreBusy", "WriteTransaction"]
