"""Version 3: bronze keyed by (vegetable, week_start) and silver by (vegetable, week_start,
raw_vegetable), without their secondary indexes on those columns: the write path reads a name's or
a vegetable's weeks as one range of the primary key, and each written row updates one index fewer.
The columns, and so the CSV files, are those of version 2."""

from .step import Step

STEP = Step(rebuilt={"bronze_sales": {}, "silver_sales": {}})
