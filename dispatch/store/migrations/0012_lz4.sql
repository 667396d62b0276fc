-- dispatch schema v12: large values compressed with lz4 (issue 10).
--
-- A spec carries its tests' input and expected output, so a grading
-- platform's specs are kilobytes to megabytes; PostgreSQL compresses every
-- value over ~2 KB before it stores it out of line, with pglz by default,
-- which costs about three times lz4's CPU: COPY of 2,000 rows of a 20 KB
-- spec, 1,100 us a row with pglz against 360 with lz4 (docs/bench.md,
-- twenty-fourth session). The output excerpts of test results are stored the
-- same way. New values only: rows already stored keep their pglz values,
-- which still read. A server built without lz4 (or before PostgreSQL 14,
-- which has no per-column compression) keeps pglz, and says so.
DO $$
BEGIN
    ALTER TABLE jobs ALTER COLUMN spec SET COMPRESSION lz4;
    ALTER TABLE test_results ALTER COLUMN stdout SET COMPRESSION lz4;
    ALTER TABLE test_results ALTER COLUMN stderr SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE WARNING 'dispatch: lz4 compression not available (%): large values stay pglz-compressed, at about three times the CPU', SQLERRM;
END $$;
