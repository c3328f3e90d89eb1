/* The SCEP attribute OIDs (RFC 8894 section 3.2.1), registered once. */
#include "mdmid/scep_msg.h"

#include <openssl/objects.h>

static struct scep_oids oids;

static int oid_nid(const char *oid, const char *sn, const char *ln)
{
	int nid = OBJ_txt2nid(oid);
	/* A test linking a client library may have created it already. */
	if (nid == NID_undef)
		nid = OBJ_create(oid, sn, ln);
	return nid;
}

int scep_oids_init(void)
{
	if (oids.message_type > 0)
		return 1;
	oids.message_type = oid_nid("2.16.840.1.113733.1.9.2", "scep-messageType", "SCEP messageType");
	oids.pki_status = oid_nid("2.16.840.1.113733.1.9.3", "scep-pkiStatus", "SCEP pkiStatus");
	oids.fail_info = oid_nid("2.16.840.1.113733.1.9.4", "scep-failInfo", "SCEP failInfo");
	oids.sender_nonce = oid_nid("2.16.840.1.113733.1.9.5", "scep-senderNonce", "SCEP senderNonce");
	oids.recipient_nonce = oid_nid("2.16.840.1.113733.1.9.6", "scep-recipientNonce", "SCEP recipientNonce");
	oids.transaction_id = oid_nid("2.16.840.1.113733.1.9.7", "scep-transId", "SCEP transactionID");
	oids.fail_info_text = oid_nid("1.3.6.1.5.5.7.24.1", "scep-failInfoText", "SCEP failInfoText");
	return oids.message_type != NID_undef && oids.pki_status != NID_undef && oids.fail_info != NID_undef &&
	       oids.sender_nonce != NID_undef && oids.recipient_nonce != NID_undef &&
	       oids.transaction_id != NID_undef && oids.fail_info_text != NID_undef;
}

const struct scep_oids *scep_oids(void) { return &oids; }

const char *scep_message_type_name(int type)
{
	switch (type) {
	case SCEP_MT_CERTREP: return "CertRep";
	case SCEP_MT_RENEWALREQ: return "RenewalReq";
	case SCEP_MT_PKCSREQ: return "PKCSReq";
	case SCEP_MT_CERTPOLL: return "CertPoll";
	case SCEP_MT_GETCERT: return "GetCert";
	case SCEP_MT_GETCRL: return "GetCRL";
	default: return "unknown";
	}
}
