-- PKCS#12 batch export: each certificate row names the batch that made it,
-- so a rerun of an interrupted batch finds the rows whose keys were lost.
ALTER TABLE certificate ADD COLUMN batch text;
CREATE INDEX certificate_batch ON certificate (batch, udid) WHERE batch IS NOT NULL;
