-- dispatch schema v3: each test result's checker message (why a test is not
-- AC: the mismatching token, a custom checker's verdict line, a limit).

ALTER TABLE test_results ADD COLUMN message text;
