-- A code is only ever written for a verification its transaction has just
-- read under its filing's lock, and an SMS only for the code written just
-- before it in the same transaction; neither verifications nor codes are
-- ever deleted but all at once (TRUNCATE). The two foreign keys could only
-- confirm that, at the price of a locking lookup for every code and SMS
-- written: a noon resend writes a hundred thousand of each.
ALTER TABLE codes DROP CONSTRAINT codes_verification_id_fkey;
ALTER TABLE sms DROP CONSTRAINT sms_code_id_fkey;

-- A code names its filing too, so that returning filings finds their live
-- codes with one look each in an index of live codes only, instead of going
-- through every verification of every filing returned.
ALTER TABLE codes ADD COLUMN filing_id uuid;
UPDATE codes c SET filing_id = v.filing_id FROM verifications v WHERE v.id = c.verification_id;
ALTER TABLE codes ALTER COLUMN filing_id SET NOT NULL;
CREATE INDEX codes_live_filing ON codes (filing_id) WHERE state = 'live';
