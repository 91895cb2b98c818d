-- The order in which SMS reached their handsets, so a reader can ask for the
-- messages delivered after one it has seen (`?after=`). Delivery times alone
-- do not give it: an SMS held for a handset without signal arrives later than
-- its due time, and several can share one instant on a frozen virtual clock.
CREATE SEQUENCE sms_delivery_order;
ALTER TABLE sms ADD COLUMN delivery_order bigint UNIQUE;
