-- Revocation and CRLs. Abandoned rows (PKCS#12 keys lost before their file
-- was written) are revoked too, as superseded: they were issued, and the
-- CRL says they are no identity.
DO $$
DECLARE c text;
BEGIN
    SELECT conname INTO c FROM pg_constraint
     WHERE conrelid = 'certificate'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%revoked_at%';
    IF c IS NOT NULL THEN
        EXECUTE format('ALTER TABLE certificate DROP CONSTRAINT %I', c);
    END IF;
END $$;
UPDATE certificate SET revoked_at = created_at, revocation_reason = 'superseded'
 WHERE status = 'abandoned' AND revoked_at IS NULL;
ALTER TABLE certificate ADD CONSTRAINT certificate_revocation
    CHECK ((status IN ('revoked', 'abandoned')) = (revoked_at IS NOT NULL));
ALTER TABLE certificate ADD CONSTRAINT certificate_revocation_reason
    CHECK (revocation_reason IS NULL OR revocation_reason IN ('unspecified', 'keyCompromise', 'cACompromise',
        'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn',
        'aACompromise'));
CREATE INDEX certificate_revoked ON certificate (issuer_id) WHERE status IN ('revoked', 'abandoned');

-- Every CRL issued, numbered from a sequence, so that every mdmid process
-- serves the same, latest one.
CREATE SEQUENCE crl_number;
CREATE TABLE crl (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number       bigint NOT NULL UNIQUE,
    issuer_id    bigint NOT NULL REFERENCES issuer (id),
    this_update  timestamptz NOT NULL,
    next_update  timestamptz NOT NULL,
    entries      integer NOT NULL,
    der          bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (this_update < next_update)
);
CREATE INDEX crl_latest ON crl (issuer_id, number DESC);
GRANT SELECT ON crl TO auditor;
