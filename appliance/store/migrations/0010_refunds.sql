-- Device store, version 10: refunds.
--
-- A refund record prints its own receipt (titled REFUND), queued by the INSERT that appends it,
-- like a sale's. It must name the sale record it refunds (original_seq), or it is refused.
-- ``payouts`` lists the bitcoin refunds the merchant still has to pay from their own wallet: the
-- till never spends, it only records where the customer wants the money.

CREATE TRIGGER journal_refund_receipt AFTER INSERT ON journal WHEN NEW.kind = 'refund'
BEGIN
    SELECT RAISE(ABORT, 'refund.original_seq is not a sale record')
    WHERE NOT EXISTS (
        SELECT 1 FROM journal
        WHERE seq = NEW.body ->> '$.original_seq' AND kind = 'sale'
          AND body ->> '$.sale_id' = NEW.body ->> '$.sale_id'
    );
    INSERT INTO print_queue (journal_seq, sale_seq, copy, queued_at)
    VALUES (NEW.seq, NEW.seq, 0, NEW.at);
END;

CREATE INDEX journal_refund_of ON journal (kind, body ->> '$.original_seq') WHERE kind = 'refund';

CREATE VIEW payouts AS
SELECT j.seq AS journal_seq,
       j.at AS recorded_at,
       j.body ->> '$.refund_id' AS refund_id,
       j.body ->> '$.sale_id' AS sale_id,
       p.value ->> '$.method' AS method,
       p.value ->> '$.amount' AS amount,
       j.body ->> '$.currency' AS currency,
       p.value ->> '$.payout.kind' AS kind,
       p.value ->> '$.payout.destination' AS destination,
       p.value ->> '$.payout.status' AS status
FROM journal AS j, json_each(j.body, '$.payments') AS p
WHERE j.kind = 'refund' AND p.value ->> '$.payout' IS NOT NULL;
