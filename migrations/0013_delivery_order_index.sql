-- Only a delivered SMS has a place in the order of delivery. Every other SMS
-- (scheduled, held, dropped, cancelled, undeliverable) still wrote an entry
-- for its empty `delivery_order` into the unique index, which a noon resend
-- paid for a hundred thousand times; the values that exist stay unique.
ALTER TABLE sms DROP CONSTRAINT sms_delivery_order_key;
CREATE UNIQUE INDEX sms_delivery_order_unique ON sms (delivery_order) WHERE delivery_order IS NOT NULL;
