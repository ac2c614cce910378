-- Device store, version 13: bitcoin refunds marked paid.
--
-- The merchant pays a bitcoin refund from their own wallet and then says so: a ``payout`` record
-- (core/payout.py) names the refund, the method and the proof. ``payouts`` shows such a payout
-- as paid, with its proof; a second ``payout`` record for the same refund and method is refused.
-- The bitcoin money of an unfinished split sale given back (a ``payment`` record in state
-- ``given_back``, migration 0014) is a pending payout too, named by the sale id, as a give-back
-- has no refund id.

CREATE TRIGGER journal_payout_once BEFORE INSERT ON journal WHEN NEW.kind = 'payout'
BEGIN
    SELECT RAISE(ABORT, 'this payout is already marked paid')
    WHERE EXISTS (
        SELECT 1 FROM journal
        WHERE kind = 'payout'
          AND body ->> '$.refund_id' = NEW.body ->> '$.refund_id'
          AND body ->> '$.method' = NEW.body ->> '$.method'
    );
END;

CREATE INDEX journal_payout_of ON journal (kind, body ->> '$.refund_id') WHERE kind = 'payout';

DROP VIEW payouts;
CREATE VIEW payouts AS
SELECT j.seq AS journal_seq,
       j.at AS recorded_at,
       coalesce(j.body ->> '$.refund_id', j.body ->> '$.sale_id') AS refund_id,
       j.body ->> '$.sale_id' AS sale_id,
       p.value ->> '$.method' AS method,
       p.value ->> '$.amount' AS amount,
       j.body ->> '$.currency' AS currency,
       p.value ->> '$.payout.kind' AS kind,
       p.value ->> '$.payout.destination' AS destination,
       CASE WHEN paid.seq IS NULL THEN p.value ->> '$.payout.status' ELSE 'paid' END AS status,
       paid.seq AS paid_seq,
       paid.body ->> '$.proof' AS proof
FROM journal AS j
JOIN json_each(j.body, '$.payments') AS p
LEFT JOIN journal AS paid
       ON paid.kind = 'payout'
      AND paid.body ->> '$.refund_id' = coalesce(j.body ->> '$.refund_id', j.body ->> '$.sale_id')
      AND paid.body ->> '$.method' = p.value ->> '$.method'
WHERE (j.kind = 'refund' OR (j.kind = 'payment' AND j.body ->> '$.state' = 'given_back'))
  AND p.value ->> '$.payout' IS NOT NULL;
