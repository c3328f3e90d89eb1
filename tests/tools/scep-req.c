/*
 * scep-req - build SCEP pkiMessages and check CertReps, for mdmid's test scripts.
 * No HTTP: scripts move the bytes with curl. See usage() for the interface.
 * Exit status: 0 done, 1 failure (bad input, no SignedData), 2 usage error.
 */
#include "scep_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage:\n"
    "  scep-req build --cacert FILE --out req.der [options]\n"
    "      --cacert FILE        GetCACert body: DER cert, PKCS#7 of RA+CA (DER or PEM), PEM certs\n"
    "      --key FILE           requester key (PEM); created (0600) when the file does not exist;\n"
    "                           without --key an ephemeral key is used\n"
    "      --key-type rsa|ec    type of a created key (default rsa; ec = P-256)\n"
    "      --key-bits N         RSA size of a created key (default 2048)\n"
    "      --challenge X        challengePassword in the CSR\n"
    "      --cn NAME            CN of the CSR and self-signed cert (default \"scepc test\")\n"
    "      --csr FILE           send this CSR (PEM or DER) instead of building one\n"
    "      --cipher aes128|aes256|des3|des   content encryption (default aes128)\n"
    "      --digest sha1|sha256|sha512|md5   signer digest (default sha256)\n"
    "      --recipient ra|ca|all encrypt to the RA, the CA, or every cert (default ra)\n"
    "      --ber                indefinite-length BER, as Apple devices send\n"
    "      --corrupt envelope|ciphertext|signature|content\n"
    "      --signer-cert FILE   sign with this cert instead of a fresh self-signed one\n"
    "      --signer-key FILE    sign with this key (default: --key); a key that does not\n"
    "                           match --signer-cert makes a mismatched-signer request\n"
    "      --transaction-id T   (default: hex SHA-256 of the CSR's SubjectPublicKeyInfo)\n"
    "      --nonce HEX          senderNonce, 16 bytes (default random)\n"
    "      --signing-time SECS  signingTime this many seconds from now (default: now)\n"
    "      --type N             messageType (default 19 PKCSReq; 17 RenewalReq, 20 CertPoll,\n"
    "                           21 GetCert, 22 GetCRL)\n"
    "      --serial HEX         serial for GetCert/GetCRL\n"
    "      --issuer FILE        issuer cert for CertPoll/GetCert/GetCRL (default: the CA)\n"
    "      --out-signer FILE    write the signer cert (PEM): the reply is encrypted to it\n"
    "      --legacy             load OpenSSL's legacy provider (implied by --cipher des)\n"
    "    prints transaction_id=T and sender_nonce=HEX\n"
    "  scep-req parse --reply rep.der [options]\n"
    "      --responder FILE     cert (PEM or DER) that must have signed the reply\n"
    "      --cacert FILE        ... or the GetCACert body: its RA is the responder\n"
    "      --key FILE           requester key, to decrypt and to find the issued cert\n"
    "      --signer-cert FILE   the request's signer cert (the reply's recipient)\n"
    "      --request FILE       the request, to match transactionID and nonces\n"
    "      --out-cert FILE      write the issued cert (PEM), when there is one\n"
    "      --legacy             load OpenSSL's legacy provider\n"
    "    prints key=value lines: signature_ok message_type pki_status fail_info\n"
    "    fail_info_text transaction_id sender_nonce recipient_nonce [transaction_id_match\n"
    "    recipient_nonce_match sender_nonce_fresh] digest cipher outer_econtent decrypt_ok\n"
    "    inner_econtent inner_certs issued_key_match issued_serial issued_subject\n"
    "    attr_type_errors; an absent value prints empty\n";

static int usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "scep-req: %s\n", why);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

/* ---- files ---------------------------------------------------------------- */

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = NULL;
    unsigned char *b = NULL, *nb;
    size_t cap = 0, n = 0, r;
    int ok = 0;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "scep-req: %s: %s\n", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap > (64u << 20)) {
                fprintf(stderr, "scep-req: %s: too large\n", path);
                goto out;
            }
            cap = cap ? cap * 2 : 4096;
            nb = realloc(b, cap);
            if (nb == NULL)
                goto out;
            b = nb;
        }
        r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "scep-req: %s: read error\n", path);
        goto out;
    }
    *buf = b;
    *len = n;
    b = NULL;
    ok = 1;
out:
    free(b);
    if (f != NULL)
        fclose(f);
    return ok;
}

static int is_pem(const unsigned char *b, size_t n)
{
    /* memmem is a GNU extension: scan by hand. */
    for (size_t i = 0; n >= 10 && i <= n - 10; i++) {
        if (memcmp(b + i, "-----BEGIN", 10) == 0)
            return 1;
    }
    return 0;
}

static X509 *load_cert(const char *path)
{
    unsigned char *b = NULL;
    const unsigned char *p;
    size_t n = 0;
    BIO *bio = NULL;
    X509 *x = NULL;

    if (!read_file(path, &b, &n) || n > LONG_MAX)
        goto out;
    if (is_pem(b, n)) {
        bio = BIO_new_mem_buf(b, (int)n);
        if (bio != NULL)
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    } else {
        p = b;
        x = d2i_X509(NULL, &p, (long)n);
    }
    if (x == NULL)
        fprintf(stderr, "scep-req: %s: not a certificate\n", path);
out:
    BIO_free(bio);
    free(b);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    unsigned char *b = NULL;
    const unsigned char *p;
    size_t n = 0;
    BIO *bio = NULL;
    EVP_PKEY *k = NULL;

    if (!read_file(path, &b, &n) || n > LONG_MAX)
        goto out;
    if (is_pem(b, n)) {
        bio = BIO_new_mem_buf(b, (int)n);
        if (bio != NULL)
            k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    } else {
        p = b;
        k = d2i_AutoPrivateKey(NULL, &p, (long)n);
    }
    if (k == NULL)
        fprintf(stderr, "scep-req: %s: not a private key\n", path);
out:
    OPENSSL_cleanse(b, n);
    BIO_free(bio);
    free(b);
    return k;
}

static X509_REQ *load_csr(const char *path)
{
    unsigned char *b = NULL;
    const unsigned char *p;
    size_t n = 0;
    BIO *bio = NULL;
    X509_REQ *r = NULL;

    if (!read_file(path, &b, &n) || n > LONG_MAX)
        goto out;
    if (is_pem(b, n)) {
        bio = BIO_new_mem_buf(b, (int)n);
        if (bio != NULL)
            r = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    } else {
        p = b;
        r = d2i_X509_REQ(NULL, &p, (long)n);
    }
    if (r == NULL)
        fprintf(stderr, "scep-req: %s: not a CSR\n", path);
out:
    BIO_free(bio);
    free(b);
    return r;
}

static STACK_OF(X509) *load_cacert(const char *path)
{
    unsigned char *b = NULL;
    size_t n = 0;
    STACK_OF(X509) *certs = NULL;

    if (!read_file(path, &b, &n))
        goto out;
    certs = scepc_parse_cacert(b, n);
    if (certs == NULL)
        fprintf(stderr, "scep-req: %s: no certificate in it\n", path);
out:
    free(b);
    return certs;
}

static int write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = 0;

    if (f == NULL) {
        fprintf(stderr, "scep-req: %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (fwrite(b, 1, n, f) != n)
        goto out;
    ok = 1;
out:
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "scep-req: %s: write failed\n", path);
    return ok;
}

static int write_cert_pem(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    int ok = 0;

    if (f == NULL) {
        fprintf(stderr, "scep-req: %s: %s\n", path, strerror(errno));
        goto out;
    }
    ok = PEM_write_X509(f, x) == 1;
out:
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok;
}

/* A key file that does not exist yet is created, 0600 from the start (no chmod race). */
static EVP_PKEY *key_load_or_create(const char *path, const char *type, int bits)
{
    EVP_PKEY *k = NULL;
    FILE *f = NULL;
    int fd;

    if (path != NULL && access(path, F_OK) == 0)
        return load_key(path);
    if (strcmp(type, "ec") == 0)
        k = EVP_EC_gen("P-256");
    else
        k = EVP_RSA_gen((unsigned int)bits);
    if (k == NULL || path == NULL)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "scep-req: %s: %s\n", path, strerror(errno));
        goto fail;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        goto fail;
    }
    if (PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    goto out;
fail:
    if (f != NULL)
        fclose(f);
    EVP_PKEY_free(k);
    k = NULL;
out:
    return k;
}

/* ---- arguments -------------------------------------------------------------- */

struct args {
    const char *cacert, *key, *key_type, *challenge, *cn, *cipher, *digest, *recipient;
    const char *corrupt, *csr, *signer_cert, *signer_key, *transaction_id, *nonce, *type;
    const char *serial, *issuer, *out, *out_signer, *key_bits, *signing_time;
    const char *reply, *responder, *request, *out_cert;
    int ber, legacy;
};

/* --name VALUE pairs and two flags; returns 0 on an unknown or valueless option. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
#define O(n, f) {n, offsetof(struct args, f)}
        O("--cacert", cacert), O("--key", key), O("--key-type", key_type),
        O("--key-bits", key_bits), O("--challenge", challenge), O("--cn", cn),
        O("--cipher", cipher), O("--digest", digest), O("--recipient", recipient),
        O("--corrupt", corrupt), O("--csr", csr), O("--signer-cert", signer_cert),
        O("--signer-key", signer_key), O("--transaction-id", transaction_id),
        O("--nonce", nonce), O("--type", type), O("--serial", serial), O("--issuer", issuer),
        O("--out", out), O("--out-signer", out_signer), O("--reply", reply),
        O("--responder", responder), O("--request", request), O("--out-cert", out_cert),
        O("--signing-time", signing_time),
#undef O
    };
    for (int i = 0; i < argc; i++) {
        size_t k;
        if (strcmp(argv[i], "--ber") == 0) {
            a->ber = 1;
            continue;
        }
        if (strcmp(argv[i], "--legacy") == 0) {
            a->legacy = 1;
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strcmp(argv[i], opts[k].name) == 0)
                break;
        }
        if (k == sizeof(opts) / sizeof(opts[0])) {
            fprintf(stderr, "scep-req: unknown option %s\n", argv[i]);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "scep-req: %s needs a value\n", argv[i]);
            return 0;
        }
        *(const char **)((char *)a + opts[k].off) = argv[++i];
    }
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

/* ---- build ------------------------------------------------------------------ */

static int cmd_build(struct args *a)
{
    struct scepc_req_opts o;
    struct scepc_req_info info;
    STACK_OF(X509) *cas = NULL, *rcpt = NULL;
    EVP_PKEY *key = NULL, *skey = NULL;
    X509 *scert = NULL, *issuer = NULL, *signer = NULL;
    X509_REQ *csr = NULL;
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    unsigned char *der = NULL, *nonce = NULL;
    size_t der_len = 0;
    long v, bits = 2048, nlen = 0;
    char *hex = NULL;
    int rc = 1;

    memset(&o, 0, sizeof(o));
    if (a->cacert == NULL || a->out == NULL)
        return usage("build needs --cacert and --out");
    if (a->key_type != NULL && strcmp(a->key_type, "rsa") != 0 && strcmp(a->key_type, "ec") != 0)
        return usage("--key-type is rsa or ec");
    if (a->key_bits != NULL && !parse_long(a->key_bits, 512, 16384, &bits))
        return usage("--key-bits: a number");
    if (a->type != NULL) {
        if (!parse_long(a->type, 1, 99, &v))
            return usage("--type: a number");
        o.message_type = (int)v;
    }
    if (a->cipher == NULL || strcmp(a->cipher, "aes128") == 0)
        o.cipher = EVP_aes_128_cbc();
    else if (strcmp(a->cipher, "aes256") == 0)
        o.cipher = EVP_aes_256_cbc();
    else if (strcmp(a->cipher, "des3") == 0)
        o.cipher = EVP_des_ede3_cbc();
    else if (strcmp(a->cipher, "des") == 0)
        o.cipher = EVP_des_cbc();
    else
        return usage("--cipher is aes128, aes256, des3 or des");
    if (a->digest == NULL || strcmp(a->digest, "sha256") == 0)
        o.md = EVP_sha256();
    else if (strcmp(a->digest, "sha1") == 0)
        o.md = EVP_sha1();
    else if (strcmp(a->digest, "sha512") == 0)
        o.md = EVP_sha512();
    else if (strcmp(a->digest, "md5") == 0)
        o.md = EVP_md5();
    else
        return usage("--digest is sha1, sha256, sha512 or md5");
    if (a->corrupt == NULL)
        o.corrupt = SCEPC_CORRUPT_NONE;
    else if (strcmp(a->corrupt, "envelope") == 0)
        o.corrupt = SCEPC_CORRUPT_ENVELOPE;
    else if (strcmp(a->corrupt, "ciphertext") == 0)
        o.corrupt = SCEPC_CORRUPT_CIPHERTEXT;
    else if (strcmp(a->corrupt, "signature") == 0)
        o.corrupt = SCEPC_CORRUPT_SIGNATURE;
    else if (strcmp(a->corrupt, "content") == 0)
        o.corrupt = SCEPC_CORRUPT_CONTENT_AFTER_SIGNING;
    else
        return usage("--corrupt is envelope, ciphertext, signature or content");
    if (a->recipient != NULL && strcmp(a->recipient, "ra") != 0 &&
        strcmp(a->recipient, "ca") != 0 && strcmp(a->recipient, "all") != 0)
        return usage("--recipient is ra, ca or all");
    if (a->nonce != NULL) {
        nonce = OPENSSL_hexstr2buf(a->nonce, &nlen);
        if (nonce == NULL || nlen != 16) {
            OPENSSL_free(nonce);
            ERR_clear_error();
            return usage("--nonce: 32 hex digits");
        }
        memcpy(o.sender_nonce, nonce, 16);
        o.have_nonce = 1;
    }
    if (a->signing_time != NULL) {
        /* seconds relative to now: --signing-time -86400 is a day ago */
        char *end;
        long long rel = strtoll(a->signing_time, &end, 10);
        if (*end || end == a->signing_time)
            return usage("--signing-time: seconds relative to now, e.g. -172800");
        o.signing_time = (long long)time(NULL) + rel;
    }
    o.ber = a->ber;
    o.challenge = a->challenge;
    o.subject_cn = a->cn;
    o.transaction_id = a->transaction_id;

    cas = load_cacert(a->cacert);
    if (cas == NULL)
        goto out;
    rcpt = sk_X509_new_null();
    if (rcpt == NULL)
        goto out;
    if (a->recipient != NULL && strcmp(a->recipient, "all") == 0) {
        for (int i = 0; i < sk_X509_num(cas); i++) {
            if (!sk_X509_push(rcpt, sk_X509_value(cas, i)))
                goto out;
        }
    } else {
        int ca = a->recipient != NULL && strcmp(a->recipient, "ca") == 0;
        if (!sk_X509_push(rcpt, ca ? scepc_pick_ca(cas) : scepc_pick_ra(cas)))
            goto out;
    }
    o.recipients = rcpt;

    key = key_load_or_create(a->key, a->key_type ? a->key_type : "rsa", (int)bits);
    if (key == NULL)
        goto out;
    o.key = key;
    if (a->csr != NULL && (csr = load_csr(a->csr)) == NULL)
        goto out;
    o.csr = csr;
    if (a->signer_cert != NULL && (scert = load_cert(a->signer_cert)) == NULL)
        goto out;
    o.signer_cert = scert;
    if (a->signer_key != NULL && (skey = load_key(a->signer_key)) == NULL)
        goto out;
    o.signer_key = skey;
    if (a->issuer != NULL && (issuer = load_cert(a->issuer)) == NULL)
        goto out;
    /* The CA, not the recipient (the RA), names the issuer in CertPoll/GetCert/GetCRL. */
    o.issuer_cert = issuer ? issuer : scepc_pick_ca(cas);
    if (a->serial != NULL) {
        if (!BN_hex2bn(&bn, a->serial) || (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
            fprintf(stderr, "scep-req: --serial: hex digits\n");
            goto out;
        }
        o.serial = serial;
    }

    if (!scepc_build_request(&o, &der, &der_len, &signer, &info))
        goto out;
    if (!write_file(a->out, der, der_len))
        goto out;
    if (a->out_signer != NULL && !write_cert_pem(a->out_signer, signer))
        goto out;
    hex = scepc_hex(info.sender_nonce, sizeof(info.sender_nonce));
    if (hex == NULL)
        goto out;
    printf("transaction_id=%s\nsender_nonce=%s\n", info.transaction_id, hex);
    rc = 0;
out:
    if (rc != 0)
        ERR_print_errors_fp(stderr);
    OPENSSL_free(hex);
    OPENSSL_free(der);
    OPENSSL_free(nonce);
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    X509_free(signer);
    X509_free(issuer);
    X509_free(scert);
    X509_REQ_free(csr);
    EVP_PKEY_free(skey);
    EVP_PKEY_free(key);
    sk_X509_free(rcpt); /* borrowed from cas */
    sk_X509_pop_free(cas, X509_free);
    return rc;
}

/* ---- parse ------------------------------------------------------------------ */

static void print_hex_line(const char *name, const unsigned char *b, size_t n)
{
    char *h = n ? scepc_hex(b, n) : NULL;
    printf("%s=%s\n", name, h ? h : "");
    OPENSSL_free(h);
}

static void print_int_line(const char *name, int v)
{
    if (v == -1)
        printf("%s=\n", name);
    else
        printf("%s=%d\n", name, v);
}

/* Quoted, with " \ and non-printable bytes escaped, so one line stays one line. */
static void print_quoted_line(const char *name, const char *s)
{
    printf("%s=", name);
    if (s != NULL) {
        putchar('"');
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if (*p < 0x20 || *p == 0x7f)
                printf("\\x%02x", *p);
            else
                putchar(*p);
        }
        putchar('"');
    }
    putchar('\n');
}

static int cmd_parse(struct args *a)
{
    struct scepc_rep rep, req;
    unsigned char *reply = NULL, *request = NULL;
    size_t reply_len = 0, request_len = 0;
    STACK_OF(X509) *cas = NULL;
    X509 *responder = NULL, *scert = NULL;
    EVP_PKEY *key = NULL;
    int have_req = 0, rc = 1;

    memset(&rep, 0, sizeof(rep));
    memset(&req, 0, sizeof(req));
    if (a->reply == NULL)
        return usage("parse needs --reply");
    if (a->responder != NULL && a->cacert != NULL)
        return usage("--responder or --cacert, not both");

    if (!read_file(a->reply, &reply, &reply_len))
        goto out;
    if (a->responder != NULL && (responder = load_cert(a->responder)) == NULL)
        goto out;
    if (a->cacert != NULL) {
        cas = load_cacert(a->cacert);
        if (cas == NULL)
            goto out;
        responder = scepc_pick_ra(cas);
        if (responder == NULL || !X509_up_ref(responder)) {
            responder = NULL;
            goto out;
        }
    }
    if (a->key != NULL && (key = load_key(a->key)) == NULL)
        goto out;
    if (a->signer_cert != NULL && (scert = load_cert(a->signer_cert)) == NULL)
        goto out;
    if (a->request != NULL) {
        if (!read_file(a->request, &request, &request_len))
            goto out;
        /* A request is a pkiMessage too: read its attributes with the same parser. */
        if (!scepc_parse_reply(request, request_len, NULL, NULL, NULL, &req)) {
            fprintf(stderr, "scep-req: %s: not a SignedData\n", a->request);
            goto out;
        }
        have_req = 1;
    }

    if (!scepc_parse_reply(reply, reply_len, responder, key, scert, &rep)) {
        fprintf(stderr, "scep-req: %s: not a SignedData\n", a->reply);
        goto out;
    }
    printf("signature_ok=%d\n", rep.signature_ok);
    print_int_line("message_type", rep.message_type);
    print_int_line("pki_status", rep.pki_status);
    print_int_line("fail_info", rep.fail_info);
    print_quoted_line("fail_info_text", rep.fail_info_text);
    printf("transaction_id=%s\n", rep.transaction_id ? rep.transaction_id : "");
    print_hex_line("sender_nonce", rep.sender_nonce, rep.sender_nonce_len);
    print_hex_line("recipient_nonce", rep.recipient_nonce, rep.recipient_nonce_len);
    if (have_req) {
        printf("transaction_id_match=%d\n",
               rep.transaction_id && req.transaction_id &&
                   strcmp(rep.transaction_id, req.transaction_id) == 0);
        printf("recipient_nonce_match=%d\n",
               req.sender_nonce_len > 0 && rep.recipient_nonce_len == req.sender_nonce_len &&
                   memcmp(rep.recipient_nonce, req.sender_nonce, req.sender_nonce_len) == 0);
        printf("sender_nonce_fresh=%d\n",
               rep.sender_nonce_len > 0 &&
                   !(rep.sender_nonce_len == req.sender_nonce_len &&
                     memcmp(rep.sender_nonce, req.sender_nonce, req.sender_nonce_len) == 0));
    }
    printf("digest=%s\n", rep.digest_nid != NID_undef ? OBJ_nid2ln(rep.digest_nid) : "");
    printf("cipher=%s\n", rep.cipher_nid != NID_undef ? OBJ_nid2ln(rep.cipher_nid) : "");
    printf("outer_econtent=%d\n", rep.has_econtent);
    printf("decrypt_ok=%d\n", rep.decrypt_ok);
    print_int_line("inner_econtent", rep.inner_has_econtent);
    printf("inner_certs=%d\n", rep.inner_certs ? sk_X509_num(rep.inner_certs) : 0);
    printf("issued_key_match=%d\n", rep.issued != NULL);
    if (rep.issued != NULL) {
        const ASN1_INTEGER *sn = X509_get0_serialNumber(rep.issued);
        BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
        char *h = bn ? BN_bn2hex(bn) : NULL;
        char *subj = X509_NAME_oneline(X509_get_subject_name(rep.issued), NULL, 0);
        printf("issued_serial=%s\n", h ? h : "");
        print_quoted_line("issued_subject", subj);
        OPENSSL_free(subj);
        OPENSSL_free(h);
        BN_free(bn);
    } else {
        printf("issued_serial=\nissued_subject=\n");
    }
    printf("attr_type_errors=%d\n", rep.attr_type_errors);
    /* A FAILURE or PENDING reply parsed fine: no cert is no error, the lines say why. */
    if (a->out_cert != NULL && rep.issued != NULL && !write_cert_pem(a->out_cert, rep.issued))
        goto out;
    rc = 0;
out:
    if (rc != 0)
        ERR_print_errors_fp(stderr);
    scepc_rep_free(&rep);
    scepc_rep_free(&req);
    X509_free(responder);
    X509_free(scert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(cas, X509_free);
    free(reply);
    free(request);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a;
    OSSL_PROVIDER *legacy = NULL, *deflt = NULL;
    int rc = 1;

    memset(&a, 0, sizeof(a));
    if (argc < 2)
        return usage(NULL);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!parse_args(argc - 2, argv + 2, &a))
        return usage(NULL);
    if (!scepc_init()) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (a.legacy || (a.cipher != NULL && strcmp(a.cipher, "des") == 0)) {
        /* Loading one provider explicitly stops the implicit default: load both. */
        deflt = OSSL_PROVIDER_load(NULL, "default");
        legacy = OSSL_PROVIDER_load(NULL, "legacy");
        if (deflt == NULL || legacy == NULL) {
            ERR_print_errors_fp(stderr);
            goto out;
        }
    }
    if (strcmp(argv[1], "build") == 0)
        rc = cmd_build(&a);
    else if (strcmp(argv[1], "parse") == 0)
        rc = cmd_parse(&a);
    else
        rc = usage("unknown subcommand");
out:
    if (legacy != NULL)
        OSSL_PROVIDER_unload(legacy);
    if (deflt != NULL)
        OSSL_PROVIDER_unload(deflt);
    return rc;
}
