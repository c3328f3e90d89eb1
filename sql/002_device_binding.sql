-- Device binding: one-time challenges bound to a UDID, the MDM's cross-check,
-- and the roles that read them. The roles themselves (cluster-wide) are
-- created by `mdmid db migrate` before any migration runs.

-- A one-time SCEP challenge. Only the SHA-256 of the secret is kept.
CREATE TABLE challenge (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_sha256  bytea NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
    udid           text NOT NULL,
    subject        text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,
    consumed_by    text,
    CHECK (expires_at > created_at)
);
CREATE INDEX challenge_udid ON challenge (udid);

ALTER TABLE certificate
    ADD CONSTRAINT certificate_challenge FOREIGN KEY (challenge_id) REFERENCES challenge (id);
-- One challenge, one certificate, whatever the number of mdmid processes.
CREATE UNIQUE INDEX certificate_one_per_challenge ON certificate (challenge_id) WHERE challenge_id IS NOT NULL;

-- The certificates that currently identify each device.
CREATE VIEW device_identity WITH (security_barrier) AS
    SELECT udid, serial, sha256, subject, method, not_before, not_after, created_at
      FROM certificate
     WHERE udid IS NOT NULL AND status = 'issued' AND now() >= not_before AND now() < not_after;

-- Why a certificate does or does not identify a device: 'match', or the reason.
CREATE FUNCTION identity_check(p_udid text, p_sha256 bytea, OUT match boolean, OUT reason text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(r.reason = 'match', false), coalesce(r.reason, 'unknown_certificate')
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
        SELECT CASE
                 WHEN c.udid IS NULL OR c.udid IS DISTINCT FROM upper(p_udid) THEN 'other_udid'
                 WHEN c.status = 'revoked' THEN 'revoked'
                 WHEN c.status = 'abandoned' THEN 'abandoned'
                 WHEN now() < c.not_before THEN 'not_yet_valid'
                 WHEN now() >= c.not_after THEN 'expired'
                 ELSE 'match'
               END AS reason
          FROM public.certificate c
         WHERE c.sha256 = p_sha256) AS r ON true
$$;

-- True only when the certificate exists, is that UDID's, is within its
-- validity and is neither revoked nor abandoned.
CREATE FUNCTION identity_matches(p_udid text, p_sha256 bytea) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce((public.identity_check(p_udid, p_sha256)).match, false) $$;

-- Identities that expire within the interval: their profiles must be replaced.
CREATE FUNCTION expiring(within interval)
    RETURNS TABLE (udid text, serial text, subject text, not_after timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.udid, c.serial, c.subject, c.not_after
      FROM public.certificate c
     WHERE c.status = 'issued' AND c.not_after > now() AND c.not_after <= now() + within
     ORDER BY c.not_after
$$;

-- Refused requests by reason.
CREATE VIEW refusals WITH (security_barrier) AS
    SELECT error, fail_info, count(*) AS count, min(at) AS first_at, max(at) AS last_at
      FROM event
     WHERE outcome = 'failure'
     GROUP BY error, fail_info;

-- New functions are executable by PUBLIC in PostgreSQL 15: not these.
REVOKE EXECUTE ON FUNCTION identity_check(text, bytea), identity_matches(text, bytea), expiring(interval) FROM PUBLIC;

-- The views are security barriers and nobody but the owner gets temporary
-- functions, so a reader cannot leak filtered-out rows through a cheap
-- function in its WHERE clause.
DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$;

-- The MDM: the views and the check functions, nothing else.
GRANT USAGE ON SCHEMA public TO mdm_reader;
GRANT SELECT ON device_identity, refusals TO mdm_reader;
GRANT EXECUTE ON FUNCTION identity_check(text, bytea), identity_matches(text, bytea), expiring(interval) TO mdm_reader;

-- The auditor: everything, read-only, but the challenge hashes.
GRANT USAGE ON SCHEMA public TO auditor;
GRANT SELECT ON issuer, certificate, event, device_identity, refusals, schema_migration TO auditor;
GRANT SELECT (id, udid, subject, created_at, expires_at, consumed_at, consumed_by) ON challenge TO auditor;
GRANT EXECUTE ON FUNCTION identity_check(text, bytea), identity_matches(text, bytea), expiring(interval) TO auditor;
