/*
 * test_sigv4.c - AWS Signature Version 4 (backends/s3_sign.c) against
 * published vectors, plus the properties the S3 backend relies on.
 *
 * Vectors:
 *  - AWS SigV4 test suite (docs.aws.amazon.com/general/latest/gr/
 *    signature-v4-test-suite.html; copies in bazelbuild/bazel
 *    third_party/aws-sig-v4-test-suite/<case>/<case>.{req,creq,sts,authz}):
 *    service "service", us-east-1, AKIDEXAMPLE, 20150830T123600Z.
 *  - S3 API reference "Signature Calculations for the Authorization Header:
 *    Transferring Payload in a Single Chunk" (docs.aws.amazon.com/AmazonS3/
 *    latest/API/sig-v4-header-based-auth.html), its four examples:
 *    AKIAIOSFODNN7EXAMPLE, us-east-1, s3, 20130524T000000Z, examplebucket.
 *    (The page prints "Credential=...,SignedHeaders=..." without spaces; we
 *    emit ", " as the test suite does, so only those signatures are compared.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/s3_sign.h"

#define MAXP 4

struct vector {
	const char *name;
	const char *method;
	const char *path;
	struct fx_s3_param query[MAXP];
	size_t n_query;
	struct fx_s3_header headers[MAXP + 2];
	size_t n_headers;
	const char *payload;
	const char *token;
	const char *creq; /* NULL: not asserted (the signature covers it) */
	const char *sts_hash;
	const char *sig;
};

/* ---------------------------------------------------- the AWS test suite */

#define SUITE_TIME ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define HOST_EX { "Host", "example.amazonaws.com" }
#define SUITE_TOKEN                                                                      \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAe" \
	"MicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8ph" \
	"UZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT3" \
	"8xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQ" \
	"wj2ICCR/oLxBA=="
#define SUITE_TAIL(signed_headers) "\n\n" signed_headers "\n" FX_S3_EMPTY_SHA256
#define SUITE_HDRS "host:example.amazonaws.com\nx-amz-date:20150830T123600Z"

static const struct fx_s3_credentials suite_cred = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL
};

static const struct vector suite[] = {
	{ "get-vanilla", "GET", "/", { { 0 } }, 0, { HOST_EX }, 1, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\n\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-query-order-key-case", "GET", "/",
	  { { "Param2", "value2" }, { "Param1", "value1" } }, 2, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\nParam1=value1&Param2=value2\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "get-vanilla-query-order-key", "GET", "/",
	  { { "Param1", "value2" }, { "Param1", "Value1" } }, 2, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\nParam1=Value1&Param1=value2\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
	  "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1" },
	{ "get-vanilla-query-order-value", "GET", "/",
	  { { "Param1", "value2" }, { "Param1", "value1" } }, 2, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\nParam1=value1&Param1=value2\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
	  "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694" },
	{ "get-vanilla-query-unreserved", "GET", "/",
	  { { "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" } }, 1,
	  { HOST_EX }, 1, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
	  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n" SUITE_HDRS
	  SUITE_TAIL("host;x-amz-date"),
	  "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
	  "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197" },
	{ "get-utf8", "GET", "/\xe1\x88\xb4", { { 0 } }, 0, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/%E1%88%B4\n\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
	  "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85" },
	{ "get-unreserved", "GET",
	  "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", { { 0 } }, 0,
	  { HOST_EX }, 1, FX_S3_EMPTY_SHA256, NULL, NULL,
	  "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
	  "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f" },
	{ "post-x-www-form-urlencoded", "POST", "/", { { 0 } }, 0,
	  { { "Content-Type", "application/x-www-form-urlencoded" }, HOST_EX }, 2,
	  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", NULL,
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n" SUITE_HDRS
	  "\n\ncontent-type;host;x-amz-date\n"
	  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	  "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
	  "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
	{ "post-vanilla-query", "POST", "/", { { "Param1", "value1" } }, 1, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, NULL,
	  "POST\n/\nParam1=value1\n" SUITE_HDRS SUITE_TAIL("host;x-amz-date"),
	  "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
	  "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
	{ "post-sts-header-before", "POST", "/", { { 0 } }, 0, { HOST_EX }, 1,
	  FX_S3_EMPTY_SHA256, SUITE_TOKEN,
	  "POST\n/\n\n" SUITE_HDRS "\nx-amz-security-token:" SUITE_TOKEN
	  SUITE_TAIL("host;x-amz-date;x-amz-security-token"),
	  "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
	  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
	{ "get-header-key-duplicate", "GET", "/", { { 0 } }, 0,
	  { HOST_EX, { "My-Header1", "value2" }, { "My-Header1", "value2" },
	    { "My-Header1", "value1" } }, 4, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
	  "x-amz-date:20150830T123600Z" SUITE_TAIL("host;my-header1;x-amz-date"),
	  "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
	  "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea" },
	{ "get-header-value-trim", "GET", "/", { { 0 } }, 0,
	  { HOST_EX, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" } }, 3,
	  FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
	  "x-amz-date:20150830T123600Z" SUITE_TAIL("host;my-header1;my-header2;x-amz-date"),
	  "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
	  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
	{ "post-header-value-case", "POST", "/", { { 0 } }, 0,
	  { HOST_EX, { "My-Header1", "VALUE1" } }, 2, FX_S3_EMPTY_SHA256, NULL, NULL,
	  "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
	  "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d" },
};

/* ------------------------------------------------- the S3 documentation */

#define S3_TIME ((time_t)1369353600) /* 2013-05-24T00:00:00Z */
#define HOST_S3 { "Host", "examplebucket.s3.amazonaws.com" }
#define SHA_EMPTY_HDR { "x-amz-content-sha256", FX_S3_EMPTY_SHA256 }
#define WELCOME_SHA "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

static const struct fx_s3_credentials s3_cred = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL
};

static const struct vector s3_docs[] = {
	{ "GET Object", "GET", "/test.txt", { { 0 } }, 0,
	  { HOST_S3, { "Range", "bytes=0-9" }, SHA_EMPTY_HDR }, 3, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
	  "x-amz-content-sha256:" FX_S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
	  "host;range;x-amz-content-sha256;x-amz-date\n" FX_S3_EMPTY_SHA256,
	  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
	  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41" },
	{ "PUT Object", "PUT", "/test$file.text", { { 0 } }, 0,
	  { { "Date", "Fri, 24 May 2013 00:00:00 GMT" }, HOST_S3,
	    { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	    { "x-amz-content-sha256", WELCOME_SHA } }, 4, WELCOME_SHA, NULL,
	  "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
	  "host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:" WELCOME_SHA "\n"
	  "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" WELCOME_SHA,
	  "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
	  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd" },
	{ "GET Bucket lifecycle", "GET", "/", { { "lifecycle", NULL } }, 1,
	  { HOST_S3, SHA_EMPTY_HDR }, 2, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
	  "x-amz-content-sha256:" FX_S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
	  "host;x-amz-content-sha256;x-amz-date\n" FX_S3_EMPTY_SHA256,
	  "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
	  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543" },
	/* Given out of order on purpose: the page's request is ?max-keys=2&prefix=J. */
	{ "Get Bucket (List Objects)", "GET", "/", { { "prefix", "J" }, { "max-keys", "2" } }, 2,
	  { SHA_EMPTY_HDR, HOST_S3 }, 2, FX_S3_EMPTY_SHA256, NULL,
	  "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
	  "x-amz-content-sha256:" FX_S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
	  "host;x-amz-content-sha256;x-amz-date\n" FX_S3_EMPTY_SHA256,
	  "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
	  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7" },
};

/* ---------------------------------------------------------------- helpers */

static struct fx_s3_request request_of(const struct vector *v, const char *service,
                                       time_t when)
{
	return (struct fx_s3_request){
		.method = v->method, .path = v->path,
		.query = v->query, .n_query = v->n_query,
		.headers = v->headers, .n_headers = v->n_headers,
		.payload_sha256 = v->payload, .region = "us-east-1",
		.service = service, .when = when,
	};
}

/* The hex signature at the end of an Authorization value. */
static const char *signature_of(const char *auth)
{
	const char *p = strstr(auth, ", Signature=");

	cr_assert_not_null(p, "%s", auth);
	return p + strlen(", Signature=");
}

static void check_vector(const struct vector *v, const char *service, time_t when,
                         const struct fx_s3_credentials *base)
{
	struct fx_s3_request req = request_of(v, service, when);
	struct fx_s3_credentials cred = *base;
	struct fx_s3_signed out;
	char *creq = NULL, *sts = NULL, want_sts[256];

	cred.session_token = v->token;
	cr_assert_eq(fx_s3_canonical_request(&req, &cred, &creq), 0, "%s", v->name);
	if (v->creq)
		cr_expect_str_eq(creq, v->creq, "%s: canonical request", v->name);
	cr_assert_eq(fx_s3_string_to_sign(&req, &cred, &sts), 0, "%s", v->name);
	snprintf(want_sts, sizeof(want_sts), "AWS4-HMAC-SHA256\n%s\n%.8s/us-east-1/%s/aws4_request\n%s",
	         when == SUITE_TIME ? "20150830T123600Z" : "20130524T000000Z",
	         when == SUITE_TIME ? "20150830" : "20130524", service ? service : "s3",
	         v->sts_hash);
	cr_expect_str_eq(sts, want_sts, "%s: string to sign", v->name);
	cr_assert_eq(fx_s3_sign(&req, &cred, &out), 0, "%s", v->name);
	cr_expect_str_eq(signature_of(out.authorization), v->sig, "%s: signature", v->name);
	free(creq);
	free(sts);
}

/* ------------------------------------------------------------------ tests */

Test(sigv4, aws_test_suite)
{
	for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++)
		check_vector(&suite[i], "service", SUITE_TIME, &suite_cred);
}

Test(sigv4, s3_documentation_examples)
{
	char sha[FX_S3_SHA256_HEX_LEN + 1];

	/* The PUT example's payload hash is that of "Welcome to Amazon S3.". */
	fx_s3_sha256_hex("Welcome to Amazon S3.", strlen("Welcome to Amazon S3."), sha);
	cr_assert_str_eq(sha, WELCOME_SHA);
	for (size_t i = 0; i < sizeof(s3_docs) / sizeof(s3_docs[0]); i++)
		check_vector(&s3_docs[i], NULL /* defaults to "s3" */, S3_TIME, &s3_cred);
}

Test(sigv4, authorization_header_is_exact)
{
	struct fx_s3_request req = request_of(&suite[0], "service", SUITE_TIME);
	struct fx_s3_signed out;

	/* get-vanilla.authz, byte for byte, and the x-amz-date to send. */
	cr_assert_eq(fx_s3_sign(&req, &suite_cred, &out), 0);
	cr_assert_str_eq(out.authorization,
	                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	                 "aws4_request, SignedHeaders=host;x-amz-date, Signature="
	                 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	cr_assert_str_eq(out.amz_date, "20150830T123600Z");

	/* The time is UTC whatever the local zone says. */
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	cr_assert_eq(fx_s3_sign(&req, &suite_cred, &out), 0);
	cr_assert_str_eq(out.amz_date, "20150830T123600Z");
}

/* radosgw rejects libcurl's signatures because libcurl signs the query in the
 * order given; ours must not depend on it. */
Test(sigv4, query_order_does_not_matter)
{
	static const struct fx_s3_param given[] = { { "list-type", "2" }, { "delimiter", "/" },
	                                            { "prefix", "a b/" } };
	static const struct fx_s3_param sorted[] = { { "delimiter", "/" }, { "list-type", "2" },
	                                             { "prefix", "a b/" } };
	struct fx_s3_header hdr[] = { HOST_S3, SHA_EMPTY_HDR };
	struct fx_s3_request req = { .method = "GET", .path = "/", .query = given, .n_query = 3,
	                             .headers = hdr, .n_headers = 2,
	                             .payload_sha256 = FX_S3_EMPTY_SHA256,
	                             .region = "us-east-1", .when = S3_TIME };
	struct fx_s3_signed a, b;
	char *qs = NULL, *creq = NULL;

	cr_assert_eq(fx_s3_sign(&req, &s3_cred, &a), 0);
	cr_assert_eq(fx_s3_canonical_request(&req, &s3_cred, &creq), 0);
	req.query = sorted;
	cr_assert_eq(fx_s3_sign(&req, &s3_cred, &b), 0);
	cr_assert_str_eq(a.authorization, b.authorization);
	cr_assert(strstr(creq, "\ndelimiter=%2F&list-type=2&prefix=a%20b%2F\n"), "%s", creq);
	cr_assert_eq(fx_s3_query_string(given, 3, &qs), 0);
	cr_assert_str_eq(qs, "delimiter=%2F&list-type=2&prefix=a%20b%2F");
	free(qs);
	free(creq);

	/* Sorting is on the encoded bytes: "a%2B" < "a-" < "a." < "a_" < "a~". */
	static const struct fx_s3_param odd[] = { { "a~", "" }, { "a_", "" }, { "a.", "" },
	                                          { "a-", "" }, { "a+", "" } };
	cr_assert_eq(fx_s3_query_string(odd, 5, &qs), 0);
	cr_assert_str_eq(qs, "a%2B=&a-=&a.=&a_=&a~=");
	free(qs);
	cr_assert_eq(fx_s3_query_string(NULL, 0, &qs), 0);
	cr_assert_str_eq(qs, "");
	free(qs);
}

Test(sigv4, uri_encode)
{
	static const struct {
		const char *in;
		bool slash;
		const char *want;
	} cases[] = {
		{ "a b", false, "a%20b" },
		{ "a+b", false, "a%2Bb" },
		{ "100%", false, "100%25" },
		{ "%20", false, "%2520" }, /* a raw key is encoded once, never decoded */
		{ "~-._AZaz09", false, "~-._AZaz09" },
		{ "\xe1\x88\xb4", false, "%E1%88%B4" },
		{ "caf\xc3\xa9", false, "caf%C3%A9" },
		{ "dir/sub/f", false, "dir/sub/f" },
		{ "dir/sub/f", true, "dir%2Fsub%2Ff" },
		{ "$&=?#*:@,;!'()", false, "%24%26%3D%3F%23%2A%3A%40%2C%3B%21%27%28%29" },
		{ "", true, "" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = fx_s3_uri_encode(cases[i].in, cases[i].slash, out, sizeof(out));

		cr_assert_eq(n, (int)strlen(cases[i].want), "%s", cases[i].in);
		cr_assert_str_eq(out, cases[i].want);
	}
	/* Exactly fitting (with NUL) works; one byte less fails and writes nothing. */
	cr_assert_eq(fx_s3_uri_encode("a b", false, out, 6), 5);
	memcpy(out, "XXXXXX", 7);
	cr_assert_eq(fx_s3_uri_encode("a b", false, out, 5), -ENAMETOOLONG);
	cr_assert_str_eq(out, "XXXXXX");
	cr_assert_eq(fx_s3_uri_encode(NULL, false, out, 5), -EINVAL);
}

Test(sigv4, path_is_encoded_once_per_segment)
{
	struct fx_s3_header hdr[] = { HOST_S3 };
	struct fx_s3_request req = { .method = "GET", .path = "/bucket/my dir/50%+\xc3\xa9.txt",
	                             .headers = hdr, .n_headers = 1,
	                             .payload_sha256 = FX_S3_UNSIGNED_PAYLOAD,
	                             .region = "us-east-1", .when = S3_TIME };
	char *creq = NULL;

	cr_assert_eq(fx_s3_canonical_request(&req, NULL, &creq), 0);
	cr_assert(!strncmp(creq, "GET\n/bucket/my%20dir/50%25%2B%C3%A9.txt\n\n", 41), "%s", creq);
	/* UNSIGNED-PAYLOAD is the last line verbatim. */
	cr_assert(!strcmp(creq + strlen(creq) - 17, "\nUNSIGNED-PAYLOAD"), "%s", creq);
	free(creq);
}

Test(sigv4, session_token_is_a_signed_header)
{
	struct fx_s3_request req = request_of(&s3_docs[0], "s3", S3_TIME);
	struct fx_s3_credentials cred = s3_cred;
	struct fx_s3_signed plain, with, empty;
	char *creq = NULL;

	cr_assert_eq(fx_s3_sign(&req, &cred, &plain), 0);
	cred.session_token = "";
	cr_assert_eq(fx_s3_sign(&req, &cred, &empty), 0);
	cr_assert_str_eq(plain.authorization, empty.authorization, "\"\" means no token");
	cred.session_token = "FwoGZXIvYXdzE+/token==";
	cr_assert_eq(fx_s3_sign(&req, &cred, &with), 0);
	cr_assert(strstr(with.authorization, "SignedHeaders=host;range;x-amz-content-sha256;"
	                                     "x-amz-date;x-amz-security-token, "),
	          "%s", with.authorization);
	cr_assert_str_neq(signature_of(with.authorization), signature_of(plain.authorization));
	cr_assert_eq(fx_s3_canonical_request(&req, &cred, &creq), 0);
	cr_assert(strstr(creq, "\nx-amz-security-token:FwoGZXIvYXdzE+/token==\n\n"), "%s", creq);
	free(creq);

	/* The caller may not sign its own copy of the signer-owned headers. */
	struct fx_s3_header dup[] = { HOST_S3, { "X-Amz-Security-Token", "t" } };
	req.headers = dup;
	req.n_headers = 2;
	cr_assert_eq(fx_s3_sign(&req, &cred, &with), -EINVAL);
}

Test(sigv4, every_secret_byte_matters)
{
	struct fx_s3_request req = request_of(&s3_docs[0], "s3", S3_TIME);
	char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	struct fx_s3_credentials cred = { "AKIAIOSFODNN7EXAMPLE", secret, NULL };
	struct fx_s3_signed base, out;

	cr_assert_eq(fx_s3_sign(&req, &cred, &base), 0);
	cr_assert_str_eq(signature_of(base.authorization), s3_docs[0].sig);
	for (size_t i = 0; i < strlen(secret); i++) {
		secret[i] ^= 1;
		cr_assert_eq(fx_s3_sign(&req, &cred, &out), 0);
		cr_assert_str_neq(signature_of(out.authorization), signature_of(base.authorization),
		                  "byte %zu", i);
		secret[i] ^= 1;
	}
	/* The key id is named in the credential but is not part of the HMAC. */
	cred.access_key_id = "AKIAOTHER";
	cr_assert_eq(fx_s3_sign(&req, &cred, &out), 0);
	cr_assert(strstr(out.authorization, "Credential=AKIAOTHER/20130524/us-east-1/s3/"));
	cr_assert_str_eq(signature_of(out.authorization), signature_of(base.authorization));
}

Test(sigv4, invalid_requests)
{
	struct fx_s3_header host_only[] = { HOST_S3 };
	struct fx_s3_header no_host[] = { { "Range", "bytes=0-9" } };
	struct fx_s3_header own_date[] = { HOST_S3, { "X-Amz-Date", "20130524T000000Z" } };
	struct fx_s3_header crlf[] = { HOST_S3, { "x-a", "v\r\nx-b: evil" } };
	struct fx_s3_header colon[] = { HOST_S3, { "x:a", "v" } };
	struct fx_s3_request ok = { .method = "GET", .path = "/", .headers = host_only,
	                            .n_headers = 1, .payload_sha256 = FX_S3_EMPTY_SHA256,
	                            .region = "us-east-1", .when = S3_TIME };
	struct fx_s3_request r;
	struct fx_s3_credentials cred = s3_cred;
	struct fx_s3_signed out;
	char long_secret[FX_S3_SECRET_MAX + 2];

	cr_assert_eq(fx_s3_sign(&ok, &cred, &out), 0);
	r = ok, r.headers = no_host;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL, "host is required");
	r = ok, r.headers = own_date, r.n_headers = 2;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL, "x-amz-date is the signer's");
	r = ok, r.headers = crlf, r.n_headers = 2;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL, "header injection");
	r = ok, r.headers = colon, r.n_headers = 2;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL);
	r = ok, r.path = "test.txt";
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL, "path must start with '/'");
	r = ok, r.payload_sha256 = NULL;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL);
	r = ok, r.region = NULL;
	cr_assert_eq(fx_s3_sign(&r, &cred, &out), -EINVAL);
	cr_assert_eq(fx_s3_sign(NULL, &cred, &out), -EINVAL);
	cr_assert_eq(fx_s3_sign(&ok, NULL, &out), -EINVAL);
	cred.secret_access_key = "";
	cr_assert_eq(fx_s3_sign(&ok, &cred, &out), -EINVAL);
	memset(long_secret, 'k', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	cred.secret_access_key = long_secret;
	cr_assert_eq(fx_s3_sign(&ok, &cred, &out), -EINVAL);
	cred = s3_cred;
	cred.session_token = "tok\nen";
	cr_assert_eq(fx_s3_sign(&ok, &cred, &out), -EINVAL);
}

Test(sigv4, authorization_too_long_leaves_output_alone)
{
	struct fx_s3_header hdr[120];
	char names[120][32];
	struct fx_s3_request req = { .method = "PUT", .path = "/k", .headers = hdr,
	                             .n_headers = 120, .payload_sha256 = FX_S3_UNSIGNED_PAYLOAD,
	                             .region = "us-east-1", .when = S3_TIME };
	struct fx_s3_signed out;

	hdr[0] = (struct fx_s3_header)HOST_S3;
	for (int i = 1; i < 120; i++) {
		snprintf(names[i], sizeof(names[i]), "x-amz-meta-attribute-%03d", i);
		hdr[i] = (struct fx_s3_header){ names[i], "v" };
	}
	memset(&out, 'Z', sizeof(out));
	cr_assert_eq(fx_s3_sign(&req, &s3_cred, &out), -ENAMETOOLONG);
	cr_assert_eq(out.authorization[0], 'Z');
	cr_assert_eq(out.amz_date[0], 'Z');
	req.n_headers = 40;
	cr_assert_eq(fx_s3_sign(&req, &s3_cred, &out), 0);
	cr_assert(strlen(out.authorization) < FX_S3_AUTH_MAX);
}

Test(sigv4, sha256_hex)
{
	char out[FX_S3_SHA256_HEX_LEN + 1];

	fx_s3_sha256_hex("", 0, out);
	cr_assert_str_eq(out, FX_S3_EMPTY_SHA256);
	fx_s3_sha256_hex(NULL, 0, out);
	cr_assert_str_eq(out, FX_S3_EMPTY_SHA256);
	fx_s3_sha256_hex("abc", 3, out); /* FIPS 180-2 example */
	cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fx_s3_sha256_hex("Param1=value1", 13, out); /* post-x-www-form-urlencoded body */
	cr_assert_str_eq(out, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
}

Test(sigv4, sha256_of_a_file_region)
{
	enum { SIZE = 300000 };
	char *data = malloc(SIZE), want[FX_S3_SHA256_HEX_LEN + 1], got[FX_S3_SHA256_HEX_LEN + 1];
	int fd = memfd_create("payload", MFD_CLOEXEC);

	cr_assert_not_null(data);
	cr_assert(fd >= 0);
	for (int i = 0; i < SIZE; i++)
		data[i] = (char)(i * 131 + (i >> 9));
	cr_assert_eq(write(fd, data, SIZE), SIZE);
	cr_assert_eq(lseek(fd, 7, SEEK_SET), 7);

	/* Several chunks, an unaligned start, and the file offset left alone. */
	fx_s3_sha256_hex(data + 1000, 200000, want);
	cr_assert_eq(fx_s3_sha256_fd(fd, 1000, 200000, got), 0);
	cr_assert_str_eq(got, want);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 7);
	fx_s3_sha256_hex(data, SIZE, want);
	cr_assert_eq(fx_s3_sha256_fd(fd, 0, SIZE, got), 0);
	cr_assert_str_eq(got, want);
	cr_assert_eq(fx_s3_sha256_fd(fd, SIZE, 0, got), 0);
	cr_assert_str_eq(got, FX_S3_EMPTY_SHA256);

	/* A region past the end is an error, and the output is untouched. */
	memset(got, 'Z', sizeof(got));
	cr_assert_eq(fx_s3_sha256_fd(fd, SIZE - 10, 11, got), -EIO);
	cr_assert_eq(got[0], 'Z');
	cr_assert_eq(fx_s3_sha256_fd(fd, UINT64_MAX, 2, got), -EINVAL);
	close(fd);
	cr_assert_eq(fx_s3_sha256_fd(fd, 0, 1, got), -EBADF);
	cr_assert_eq(fx_s3_sha256_fd(-1, 0, 1, got), -EINVAL);
	free(data);
}
