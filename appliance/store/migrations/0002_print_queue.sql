-- Device store, version 2: the persistent print queue.
--
-- A job names the journal record that asked for a print (a sale, or a reprint) and the sale record
-- whose receipt is printed. The receipt itself is made from that signed record when the job
-- prints, in the width and code pages of the printer attached then, so what is printed is always
-- what was signed. Jobs are queued by triggers, in the very INSERT that appends the record: a
-- committed sale always has its receipt queued, and a rolled-back one never has.

CREATE TABLE print_queue (
    job_id      INTEGER PRIMARY KEY,  -- rows are never deleted, so ids only grow
    journal_seq INTEGER NOT NULL UNIQUE REFERENCES journal(seq),  -- the record that asked
    sale_seq    INTEGER NOT NULL REFERENCES journal(seq),         -- the sale it prints
    copy        INTEGER NOT NULL DEFAULT 0 CHECK (copy IN (0, 1)),
    queued_at   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    printed_at  TEXT  -- NULL while waiting; set once the printer took it and said it was fine
);

CREATE INDEX print_queue_waiting ON print_queue (job_id) WHERE printed_at IS NULL;

CREATE TRIGGER journal_sale_receipt AFTER INSERT ON journal WHEN NEW.kind = 'sale'
BEGIN
    INSERT INTO print_queue (journal_seq, sale_seq, copy, queued_at)
    VALUES (NEW.seq, NEW.seq, 0, NEW.at);
END;

-- A reprint names the sale record it copies; the foreign key refuses one that names no record.
CREATE TRIGGER journal_reprint_receipt AFTER INSERT ON journal WHEN NEW.kind = 'reprint'
BEGIN
    SELECT RAISE(ABORT, 'reprint.original_seq is not a sale record')
    WHERE NOT EXISTS (
        SELECT 1 FROM journal WHERE seq = NEW.body ->> '$.original_seq' AND kind = 'sale'
    );
    INSERT INTO print_queue (journal_seq, sale_seq, copy, queued_at)
    VALUES (NEW.seq, NEW.body ->> '$.original_seq', 1, NEW.at);
END;
