-- Device store, version 9: shifts and Z closings.
--
-- z_closes projects every z_close journal record, filled by a trigger in the INSERT that appends
-- it. Its keys make the database itself refuse a second Z for the same period (a retry, two
-- tills on one store): z numbers run 1, 2, 3 without gaps and each period starts right after the
-- previous one ended. IS NOT rather than !=: a missing field (NULL) is refused, not let through.

CREATE TABLE z_closes (
    z_number    INTEGER PRIMARY KEY,
    journal_seq INTEGER NOT NULL UNIQUE REFERENCES journal(seq),
    first_seq   INTEGER NOT NULL UNIQUE,
    last_seq    INTEGER NOT NULL UNIQUE
);

CREATE TRIGGER journal_z_close AFTER INSERT ON journal WHEN NEW.kind = 'z_close'
BEGIN
    SELECT RAISE(ABORT, 'z_close: z_number does not follow the previous Z')
    WHERE NEW.body ->> '$.z_number' IS NOT coalesce((SELECT max(z_number) FROM z_closes), 0) + 1;
    SELECT RAISE(ABORT, 'z_close: the period must start after the previous Z and end before it')
    WHERE NEW.body ->> '$.period.first_seq'
              IS NOT coalesce((SELECT max(journal_seq) FROM z_closes), 0) + 1
       OR NEW.body ->> '$.period.last_seq' IS NOT NEW.seq - 1
       OR NEW.body ->> '$.period.last_seq' < NEW.body ->> '$.period.first_seq';
    INSERT INTO z_closes (z_number, journal_seq, first_seq, last_seq)
    VALUES (NEW.body ->> '$.z_number', NEW.seq, NEW.body ->> '$.period.first_seq',
            NEW.body ->> '$.period.last_seq');
    -- The Z report prints from its signed record, like a receipt (services/printing.py).
    INSERT INTO print_queue (journal_seq, sale_seq, copy, queued_at)
    VALUES (NEW.seq, NEW.seq, 0, NEW.at);
END;
