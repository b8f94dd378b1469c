-- The text each workflow version was applied from (YAML or JSON), with its
-- comments and order, for people to read, diff and edit. Versions applied
-- before this column existed have none.
ALTER TABLE workflows ADD COLUMN source TEXT;
