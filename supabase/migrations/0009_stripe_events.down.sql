-- Undoes 0009_stripe_events.sql: the events taken in and the card payments index go; the
-- journals they came from stay.
DROP TABLE IF EXISTS stripe_events;
DROP TABLE IF EXISTS card_payments;
