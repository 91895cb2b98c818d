-- An SMS not yet sent when its code was replaced, or its filing returned, is
-- cancelled rather than delivered with a code that no longer works.
ALTER TABLE sms DROP CONSTRAINT sms_state_check;
ALTER TABLE sms ADD CONSTRAINT sms_state_check
    CHECK (state IN ('scheduled', 'held', 'delivered', 'dropped', 'undeliverable', 'cancelled'));
