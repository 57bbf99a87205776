"""Version 5: the rows of each data version (row_history), from which `as_of` reads are answered.
The history starts at the version the store has when it is next served (pipeline.keep_history)."""

from .step import Step

STEP = Step(created=("row_history",))
