-- Requests held for approval (PENDING), in PostgreSQL so that any mdmid
-- process answers the device's CertPoll.
ALTER TABLE challenge ADD COLUMN require_approval boolean NOT NULL DEFAULT false;

CREATE TABLE request (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuer_id           bigint NOT NULL REFERENCES issuer (id),
    transaction_id      text NOT NULL,
    message_type        integer NOT NULL,
    spki_sha256         bytea NOT NULL,            -- the CSR's key
    signer_spki_sha256  bytea NOT NULL,            -- the key that signs the request and its polls
    csr                 bytea NOT NULL,
    subject             text,
    udid                text,
    challenge_id        bigint REFERENCES challenge (id),
    renews              bigint REFERENCES certificate (id),
    requester_addr      inet,
    created_at          timestamptz NOT NULL DEFAULT now(),
    decision            text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'approved', 'denied')),
    decided_at          timestamptz,
    certificate_id      bigint UNIQUE REFERENCES certificate (id),
    CHECK ((decision = 'pending') = (decided_at IS NULL))
);
CREATE INDEX request_transaction ON request (issuer_id, transaction_id, signer_spki_sha256);
CREATE INDEX request_pending ON request (created_at) WHERE decision = 'pending';
GRANT SELECT ON request TO auditor;
GRANT SELECT (id, udid, subject, created_at, expires_at, consumed_at, consumed_by, require_approval) ON challenge TO auditor;
