-- mdmid issuance records: issuers, certificates and the audit trail.
-- Applied by `mdmid db migrate` in one transaction and recorded in schema_migration.

-- Each CA or RA certificate mdmid uses.
CREATE TABLE issuer (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('ca', 'ra')),
    subject     text NOT NULL,
    der         bytea NOT NULL,
    sha256      bytea NOT NULL UNIQUE CHECK (octet_length(sha256) = 32),
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every certificate that left mdmid. The row is committed before the
-- certificate is handed out.
CREATE TABLE certificate (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial            text NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{2,40}$'),
    issuer_id         bigint NOT NULL REFERENCES issuer (id),
    udid              text,
    subject           text NOT NULL,
    sans              text,
    method            text NOT NULL CHECK (method IN ('scep', 'scep-renewal', 'pkcs12')),
    transaction_id    text,
    challenge_id      bigint,
    requester_addr    inet,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    sha256            bytea NOT NULL UNIQUE CHECK (octet_length(sha256) = 32),
    spki_sha256       bytea NOT NULL CHECK (octet_length(spki_sha256) = 32),
    der               bytea NOT NULL,
    renews            bigint REFERENCES certificate (id),
    status            text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'abandoned', 'revoked')),
    revoked_at        timestamptz,
    revocation_reason text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (not_before < not_after),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
-- Retransmission look-ups: the same transaction from the same key.
CREATE INDEX certificate_transaction ON certificate (issuer_id, transaction_id, spki_sha256);
CREATE INDEX certificate_udid ON certificate (udid);
CREATE INDEX certificate_not_after ON certificate (not_after);

-- Append-only audit of every PKIOperation and decision. Never a secret.
CREATE TABLE event (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('success', 'failure', 'pending')),
    error           text,
    fail_info       text CHECK (fail_info IN ('badAlg', 'badMessageCheck', 'badRequest', 'badTime', 'badCertId')),
    transaction_id  text,
    message_type    integer,
    udid            text,
    serial          text,
    requester_addr  inet,
    detail          text
);
CREATE INDEX event_at ON event (at);
CREATE INDEX event_transaction ON event (transaction_id);
