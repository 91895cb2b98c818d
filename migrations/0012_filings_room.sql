-- Half of each page free (0009) was not quite room enough for the sweep: it
-- returns every filing of a page in one transaction, and a returned row is a
-- little longer than a waiting one (it has a return reason), so the last few
-- rows of a page did not fit beside their old versions. Each of those became
-- an ordinary update with a new entry in every index of the table, on index
-- pages all over, each written to the log in full: a third of the sweep's
-- log for a twentieth of its rows. With 55% free, a page of waiting filings
-- has room for all of them to be returned at once.
ALTER TABLE filings SET (fillfactor = 45);
