"""Version 3: bronze keyed by (vegetable, week_start) and silver by (vegetable, week_start,
raw_vegetable), without their secondary indexes: the write path reads a name's or a vegetable's weeks
as one range of the primary key, and each written row updates one index fewer."""

SQLITE = """
ALTER TABLE bronze_sales RENAME TO bronze_sales_v2;
ALTER TABLE silver_sales RENAME TO silver_sales_v2;
CREATE TABLE bronze_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    received_at TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (vegetable, week_start)
) WITHOUT ROWID;
CREATE TABLE silver_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    raw_vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (vegetable, week_start, raw_vegetable)
) WITHOUT ROWID;
INSERT INTO bronze_sales SELECT week_start, vegetable, date, kilo_sold, received_at, change_seq FROM bronze_sales_v2;
INSERT INTO silver_sales SELECT week_start, vegetable, kilo_sold, raw_vegetable, date FROM silver_sales_v2;
DROP TABLE bronze_sales_v2;
DROP TABLE silver_sales_v2;
CREATE INDEX bronze_sales_change_seq ON bronze_sales (change_seq);
UPDATE store_meta SET value = '3' WHERE key = 'schema_version';
"""

POSTGRES = """
ALTER TABLE bronze_sales DROP CONSTRAINT bronze_sales_pkey, ADD PRIMARY KEY (vegetable, week_start);
DROP INDEX IF EXISTS bronze_sales_vegetable_week;
ALTER TABLE silver_sales DROP CONSTRAINT silver_sales_pkey, ADD PRIMARY KEY (vegetable, week_start, raw_vegetable);
DROP INDEX IF EXISTS silver_sales_vegetable_week;
UPDATE store_meta SET value = '3' WHERE key = 'schema_version';
"""
