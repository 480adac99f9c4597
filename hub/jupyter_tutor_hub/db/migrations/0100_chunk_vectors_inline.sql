-- Course-scoped vector search compares every chunk of the course (exact at any share of
-- the table, course/search.py): keep each chunk's vector in its row, so a scan reads one
-- page per few chunks instead of fetching every vector from the TOAST table. Long texts
-- are moved out of line first. Rows written before this keep their layout until the
-- course is ingested again.
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE MAIN;
