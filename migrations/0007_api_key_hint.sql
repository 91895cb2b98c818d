-- The opening characters of each ISP's API key ("bsk_1a2b"), so that operators
-- can tell keys apart while only the key's hash is kept. Sixteen of the key's
-- 128 random bits; ISPs made before this column have none.
ALTER TABLE isps ADD COLUMN api_key_hint text;
