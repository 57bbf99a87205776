"""Version 2: bronze and silver keyed by the first day of the week, with the date as sent next to
it and (bronze) when it was received; the settings table. Version 1 keyed them by the date as sent,
always the first day of its week."""

SQLITE = """
ALTER TABLE bronze_sales RENAME TO bronze_sales_v1;
ALTER TABLE silver_sales RENAME TO silver_sales_v1;
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE bronze_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    received_at TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (week_start, vegetable)
) WITHOUT ROWID;
CREATE TABLE silver_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    raw_vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (week_start, raw_vegetable)
) WITHOUT ROWID;
INSERT INTO bronze_sales (week_start, vegetable, date, kilo_sold, received_at, change_seq)
    SELECT date, vegetable, date, kilo_sold, :now, change_seq FROM bronze_sales_v1;
INSERT INTO silver_sales (week_start, vegetable, kilo_sold, raw_vegetable, date)
    SELECT date, vegetable, kilo_sold, raw_vegetable, date FROM silver_sales_v1;
DROP TABLE bronze_sales_v1;
DROP TABLE silver_sales_v1;
CREATE INDEX bronze_sales_change_seq ON bronze_sales (change_seq);
INSERT INTO store_meta VALUES ('week_date', 'start');
INSERT INTO store_meta VALUES ('schema_version', '2');
"""

POSTGRES = """
CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO store_meta VALUES ('week_date', 'start'), ('schema_version', '2');
ALTER TABLE bronze_sales ADD COLUMN week_start text COLLATE "C", ADD COLUMN received_at text;
UPDATE bronze_sales
   SET week_start = date, received_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
ALTER TABLE bronze_sales ALTER COLUMN week_start SET NOT NULL, ALTER COLUMN received_at SET NOT NULL,
    DROP CONSTRAINT bronze_sales_pkey, ADD PRIMARY KEY (week_start, vegetable);
ALTER TABLE silver_sales RENAME COLUMN date TO week_start;
ALTER TABLE silver_sales ADD COLUMN date text COLLATE "C";
UPDATE silver_sales SET date = week_start;
ALTER TABLE silver_sales ALTER COLUMN date SET NOT NULL;
DROP INDEX silver_sales_vegetable_date;
"""
