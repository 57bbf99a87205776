"""Version 4: the history of data versions (data_versions), empty until the next change of sales."""

from .step import Step

STEP = Step(created=("data_versions",))
