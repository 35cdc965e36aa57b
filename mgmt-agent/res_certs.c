/* res_certs.c: CertificateService: the HTTPS certificate as a resource, ReplaceCertificate. */
#include "resources.h"
#include "tls.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERTS "/redfish/v1/Managers/service/NetworkProtocol/HTTPS/Certificates"
#define CERT  CERTS "/1"
#define SVC   "/redfish/v1/CertificateService"

void h_cert_service(struct req *q, struct resp *r)
{
    (void)q;
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s, s:[s]}}, s:o}", "@odata.id", SVC,
                        "@odata.type", "#CertificateService.v1_0_4.CertificateService", "Id",
                        "CertificateService", "Name", "Certificate Service", "Actions",
                        "#CertificateService.ReplaceCertificate", "target",
                        SVC "/Actions/CertificateService.ReplaceCertificate",
                        "CertificateType@Redfish.AllowableValues", "PEM", "CertificateLocations",
                        odata_link(SVC "/CertificateLocations")));
}

void h_cert_locations(struct req *q, struct resp *r)
{
    (void)q;
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:{s:[o]}}", "@odata.id", SVC "/CertificateLocations",
                        "@odata.type", "#CertificateLocations.v1_0_4.CertificateLocations", "Id",
                        "CertificateLocations", "Name", "Certificate Locations", "Links",
                        "Certificates", odata_link(CERT)));
}

void h_certs(struct req *q, struct resp *r)
{
    if (strcmp(ARG(q, 1), "service"))
        return resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
    resp_json(r, 200,
              collection(CERTS, "#CertificateCollection.CertificateCollection",
                         "HTTPS Certificates", json_pack("[o]", odata_link(CERT))));
}

static json_t *name_json(const X509_NAME *n)
{
    char cn[256] = "", o[256] = "";
    X509_NAME_get_text_by_NID(n, NID_commonName, cn, sizeof cn);
    X509_NAME_get_text_by_NID(n, NID_organizationName, o, sizeof o);
    return json_pack("{s:s, s:s}", "CommonName", cn, "Organization", o);
}

static json_t *time_json(const ASN1_TIME *t)
{
    struct tm tm;
    char buf[32];
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return json_null();
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *cert_json(void)
{
    X509 *c = tls_certificate();
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n = b && PEM_write_bio_X509(b, c) ? BIO_get_mem_data(b, &pem) : 0;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s#, s:s, s:o, s:o, s:o, s:o, s:s, s:s}", "@odata.id", CERT,
        "@odata.type", "#Certificate.v1_5_0.Certificate", "Id", "1", "Name", "HTTPS Certificate",
        "CertificateString", pem ? pem : "", (int)n, "CertificateType", "PEM", "Issuer",
        name_json(X509_get_issuer_name(c)), "Subject", name_json(X509_get_subject_name(c)),
        "ValidNotBefore", time_json(X509_get0_notBefore(c)), "ValidNotAfter",
        time_json(X509_get0_notAfter(c)), "Fingerprint", tls_fingerprint(),
        "FingerprintHashAlgorithm", "TPM_ALG_SHA256");
    BIO_free(b);
    return j;
}

void h_cert(struct req *q, struct resp *r)
{
    if (strcmp(ARG(q, 1), "service") || strcmp(ARG(q, 5), "1"))
        return resp_error(r, 404, "ResourceNotFound", "no certificate at %.200s", q->url);
    resp_json(r, 200, cert_json());
}

void h_cert_replace(struct req *q, struct resp *r)
{
    const char *pem = json_string_value(json_object_get(q->json, "CertificateString"));
    const char *type = json_string_value(json_object_get(q->json, "CertificateType"));
    const char *uri =
        json_string_value(json_object_get(json_object_get(q->json, "CertificateUri"), "@odata.id"));
    char why[200];
    if (!pem || !type || !uri)
        return resp_error(r, 400, "ActionParameterMissing",
                          "ReplaceCertificate needs CertificateString, CertificateType and "
                          "CertificateUri");
    if (strcmp(type, "PEM"))
        return resp_error(r, 400, "ActionParameterValueNotInList", "CertificateType must be PEM");
    if (strcmp(uri, CERT))
        return resp_error(r, 400, "ActionParameterValueNotInList", "CertificateUri must be " CERT);
    if (tls_replace(pem, strlen(pem), why, sizeof why))
        return resp_error(r, 400, "ActionParameterValueFormatError", "%s", why);
    resp_json(r, 200, cert_json());
}
