/* tls_front.c - the TLS front (tls_front.h): one OpenSSL context for the
 * run, one SSL object over two memory BIOs per session. The session owns
 * the socket; this file only turns wire bytes into plaintext and back. */
#include "tls_front.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ssl_api.h"
#include "state.h"
#include "tlshello.h"
#include "units.h"

#define TLS_FRONT_FILE_MAX (1024 * 1024)  /* a PEM file read: certificate, chain, key */
#define TLS_FRONT_HELLO_MIN 512      /* the kept hello's first allocation */
#define TLS_FRONT_DAYS 3650          /* the self-signed certificate's life, like Debian's snakeoil */
/* What one idle session's front holds, measured as the RSS delta of 400
 * idle TLS 1.3 sessions (16.9 KB each, bench/tls-idle-memory): the SSL
 * object, its key schedule and ciphers, its empty BIOs; charged to the
 * --max-buffered budget while the session lives. */
#define TLS_FRONT_COST (16 * 1024)
/* And what a peer can make an established session hold on top of it:
 * SSL_MODE_RELEASE_BUFFERS gives the read buffer back between records,
 * but a record the peer sends only part of keeps it: 16 KiB of plaintext,
 * the cipher's overhead and the header (OpenSSL's SSL3_RT_MAX_ENCRYPTED_
 * LENGTH and its alignment: about 17.7 KiB). Charged with the idle cost,
 * so a budget full of half-records is still the budget. */
#define TLS_FRONT_READ_BUF (18 * 1024)
/* What OpenSSL holds on top of that while a handshake is under way (its
 * message buffer, sized to the hello, the key exchange, the transcript),
 * with the kept hello's TLSHELLO_MAX charged apart. Measured by
 * bench/tls-handshake-memory as the heap per session of 300 sessions
 * waiting for the client's Finished after our flight, the SSL object and
 * the kept hello included: 44.2 KiB with curl's 517-byte hello, 63.7 KiB
 * with a 31.5 KB one; the call that reads a hello holds it twice more
 * for a moment (the read BIO, the message buffer). 16 + 64 + 32 KiB
 * covers both. */
#define TLS_FRONT_HANDSHAKE (64 * 1024)
/* A record's header, and the first bytes of an SSLv2-compatible hello,
 * that decide whether a stream is TLS at all. */
#define TLS_FRONT_HEAD 5
#define TLS_FRONT_SSLV2_HEAD 11
#define TLS_FRONT_RECORD_MAX 16384   /* a plaintext record (RFC 8446 5.1) */

/* TLS 1.3's suites, CCM ones too: whatever a scanner offers. */
#define TLS_FRONT_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"

struct tls_front {
	SSL *ssl;                    /* owns both BIOs */
	BIO *rbio, *wbio;            /* wire bytes in; wire bytes out */
	uint64_t now_ns;             /* the current feed's time, for the callbacks */
	uint64_t hello_ns, done_ns;  /* 0: not yet */
	uint64_t raw_in, raw_out;
	const char *version, *cipher;  /* OpenSSL's static names, once established */
	uint8_t *hello;              /* the raw records up to the hello's end */
	uint32_t hello_len, hello_cap;
	/* Until tlshello_extent decides, every byte is held here and none is
	 * OpenSSL's: a hello announced past TLSHELLO_MAX, a malformed one, a
	 * binary client's high-bit first byte never reach it. */
	uint32_t held;               /* not TLS after all: the bytes to replay */
	uint32_t rec_at, due;        /* the record being held; the held length
	                              * at which to look again (tls_front_due) */
	uint32_t hs_got, hs_need;    /* the handshake's bytes in whole records;
	                              * its announced size with its header */
	uint8_t hs[4];               /* the handshake header */
	/* Once OpenSSL has the bytes, every byte it is given is walked
	 * first (tls_front_walk) until the handshake is done: a later
	 * handshake message (the second hello after a HelloRetryRequest)
	 * announced past TLSHELLO_MAX is refused before OpenSSL grows its
	 * message buffer to the announced size. */
	uint32_t wk_rec;             /* the current record's body bytes to come */
	uint32_t wk_msg;             /* the current handshake message's body to come */
	uint8_t wk_hdr[5], wk_hdr_got;   /* a record header being gathered */
	uint8_t wk_msg_hdr[4], wk_msg_got;   /* a handshake header being gathered */
	uint8_t wk_type;             /* the current record's content type */
	bool wk_begun, wk_v2, wk_off;
	size_t charged;              /* what the budget holds for the front */
	enum record_tls_error error;
	char alert[RECORD_TLS_ALERT];
	bool started;                /* the first byte was looked at */
	bool decided;                /* the hello is TLS: OpenSSL has the bytes */
	bool hs_peeked;              /* extent saw the handshake header mid-record */
	bool alert_in;               /* alert[] is the peer's */
	bool established, plain, failed;
};

static SSL_CTX *tls_front_ctx;
static bool tls_front_has_cert;

/* ---- set-up ---------------------------------------------------------- */

/* Appends OpenSSL's first queued error to err (after what it holds). */
static int tls_front_fail(char *err, size_t errlen, const char *what, const char *name)
{
	char why[256] = "";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	snprintf(err, errlen, "tls: %s%s%s%s%s", name ? name : "", name ? ": " : "",
	    what, e ? ": " : "", why);
	ERR_clear_error();
	return -1;
}

/* Never asks for a passphrase (no terminal): an encrypted key is refused. */
static int tls_front_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

static void tls_front_on_info(const SSL *ssl, int where, int ret)
{
	struct tls_front *t = SSL_get_ex_data(ssl, 0);
	unsigned desc = (unsigned)ret & 0xff;

	if (!t || !(where & SSL_CB_ALERT) || t->established || t->alert[0] || desc == 0)
		return;
	/* The first alert of the handshake, ours or the peer's: close_notify
	 * (0) is no failure. */
	t->alert_in = (where & SSL_CB_READ) != 0;
	tls_front_alert_name(desc, t->alert, sizeof(t->alert));
}

static int tls_front_on_hello(SSL *ssl, int *al, void *arg)
{
	struct tls_front *t = SSL_get_ex_data(ssl, 0);

	(void)al; (void)arg;
	if (t && !t->hello_ns)
		t->hello_ns = t->now_ns;
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* ALPN: http/1.1 or http/1.0 when offered, else no ALPN at all (a client
 * that offers only h2 still gets its handshake). */
static int tls_front_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1\x08http/1.0";
	unsigned char *pick = NULL;

	(void)ssl; (void)arg;
	if (inlen == 0)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto(&pick, outlen, ours, sizeof(ours) - 1, in, inlen)
	    != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = pick;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_front_new_ctx(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return tls_front_fail(err, errlen, "cannot make a context", NULL), NULL;
	/* A honeypot takes what scanners offer: every version from TLS 1.0,
	 * every cipher, no key size floor. */
	SSL_CTX_set_security_level(ctx, 0);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, 0) ||
	    !SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0") ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS_FRONT_SUITES)) {
		SSL_CTX_free(ctx);
		return tls_front_fail(err, errlen, "cannot set versions and ciphers", NULL), NULL;
	}
	/* No renegotiation, tickets or cache: a peer gets one handshake's
	 * work and leaves nothing behind. */
	SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Idle sessions give their read and write buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_front_on_alpn, NULL);
	SSL_CTX_set_info_callback(ctx, tls_front_on_info);
	SSL_CTX_set_client_hello_cb(ctx, tls_front_on_hello, NULL);
	return ctx;
}

/* A memory BIO that BIO_reset rewinds (rather than empties), to read a
 * file's certificate and key in turn. */
static BIO *tls_front_mem_bio(void)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b)
		BIO_set_flags(b, BIO_FLAGS_NONCLEAR_RST);
	return b;
}

/* Reads all of fd (up to TLS_FRONT_FILE_MAX) into a new BIO. */
static BIO *tls_front_read_fd(int fd, const char *name, char *err, size_t errlen)
{
	char *buf = malloc(TLS_FRONT_FILE_MAX);
	size_t len = 0;
	BIO *b;

	if (!buf)
		return snprintf(err, errlen, "tls: %s: out of memory", name), NULL;
	for (;;) {
		ssize_t n = read(fd, buf + len, TLS_FRONT_FILE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "tls: %s: %s", name, strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == TLS_FRONT_FILE_MAX) {
			snprintf(err, errlen, "tls: %s: larger than %d bytes: not a "
			    "certificate or key", name, TLS_FRONT_FILE_MAX);
			free(buf);
			return NULL;
		}
	}
	/* BIO_new_mem_buf does not copy: a BIO of its own keeps the bytes. */
	b = tls_front_mem_bio();
	if (!b || BIO_write(b, buf, (int)len) != (int)len) {
		BIO_free(b);
		free(buf);
		return tls_front_fail(err, errlen, "out of memory", name), NULL;
	}
	memset(buf, 0, len);         /* a key was there */
	free(buf);
	return b;
}

#define TLS_FRONT_LINKS 40           /* links followed in one path, as the kernel's ELOOP */

/* Whether what fd is (a folder, a link, the file) only root can have put
 * there: root's, and not writable by group or others (a folder may be if
 * sticky, like /tmp: no one else can rename root's entries there; a
 * link's own mode means nothing). Returns 0, or -1 naming shown in err. */
static int tls_front_root_owned(int fd, const char *shown, const char *path, char *err,
    size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return snprintf(err, errlen, "tls: %s: %s", shown, strerror(errno)), -1;
	if (st.st_uid != 0 || (!S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))))
		return snprintf(err, errlen, "tls: %s: not root's, or writable by "
		    "others: as root, certificates and keys are read only from "
		    "root's own files, links and folders (%s)", shown, path), -1;
	return 0;
}

/* Opens path for reading as root, walking it as given, a component at a
 * time from / (or the working folder's real path), each opened without
 * following a link (O_PATH | O_NOFOLLOW) and checked where it is: every
 * folder, every link and the folders its target is walked through, and
 * the file, root's (tls_front_root_owned). The file is read from the fd
 * that was checked: nothing is looked up twice, so the service user can
 * neither point a link of its own at a root-only key nor swap a checked
 * name for another. Returns the fd, or -1 with err. */
static int tls_front_open_root(const char *path, char *err, size_t errlen)
{
	char todo[2 * PATH_MAX], shown[2 * PATH_MAX], target[PATH_MAX];
	int dir = -1, links = 0;
	char *rest = todo;

	if (strlen(path) >= PATH_MAX)
		return snprintf(err, errlen, "tls: %s: path too long", path), -1;
	if (path[0] == '/') {
		snprintf(todo, sizeof(todo), "%s", path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return snprintf(err, errlen, "tls: %s: %s", path, strerror(errno)), -1;
		snprintf(todo, sizeof(todo), "%s/%s", cwd, path);
	}
	for (;;) {
		/* at / (again, after an absolute link's target) */
		if (*rest == '/') {
			if (dir >= 0)
				close(dir);
			snprintf(shown, sizeof(shown), "/");
			if ((dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    tls_front_root_owned(dir, shown, path, err, errlen) < 0)
				goto fail;
			while (*rest == '/')
				rest++;
		}
		char *name = rest, *slash = strchr(rest, '/');
		if (slash) {
			*slash = '\0';
			rest = slash + 1;
			while (*rest == '/')
				rest++;
		} else {
			rest += strlen(rest);
		}
		bool last = *rest == '\0';
		if (name[0] == '\0' || strcmp(name, ".") == 0) {
			if (last)
				break;       /* "dir/": not a file */
			continue;
		}
		size_t sl = strlen(shown), nl = strlen(name);
		if (sl + nl + 2 < sizeof(shown)) {   /* else shown stops (messages only) */
			if (sl > 1)
				shown[sl++] = '/';
			memcpy(shown + sl, name, nl + 1);
		}
		int fd = last ? openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
		    O_CLOEXEC) : -1;
		if (fd < 0 && (!last || errno == ELOOP))
			fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "tls: %s: cannot read: %s (%s)", path,
			    strerror(errno), shown);
			goto fail;
		}
		struct stat st;
		if (tls_front_root_owned(fd, shown, path, err, errlen) < 0 ||
		    fstat(fd, &st) < 0) {
			close(fd);
			goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			/* the target is walked in its place, from this folder */
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n <= 0 || ++links > TLS_FRONT_LINKS) {
				snprintf(err, errlen, "tls: %s: cannot read the link %s", path,
				    shown);
				goto fail;
			}
			target[n] = '\0';
			char next[2 * PATH_MAX];
			if (snprintf(next, sizeof(next), "%s%s%s", target, last ? "" : "/", rest) >=
			    (int)sizeof(next)) {
				snprintf(err, errlen, "tls: %s: path too long", path);
				goto fail;
			}
			snprintf(todo, sizeof(todo), "%s", next);
			rest = todo;
			*strrchr(shown, '/') = '\0';   /* the link's folder */
			if (shown[0] == '\0')
				snprintf(shown, sizeof(shown), "/");
			continue;
		}
		if (last) {
			struct stat ds;
			if (!S_ISREG(st.st_mode)) {
				close(fd);
				close(dir);
				return snprintf(err, errlen, "tls: %s: not a regular file", path), -1;
			}
			/* In a folder others may write (sticky, like /tmp), a name
			 * with more links than one may be the service user's hard
			 * link to another root-only key (fs.protected_hardlinks=0):
			 * root's, 0600, and still not the file the name was for. */
			if (st.st_nlink > 1 && (fstat(dir, &ds) < 0 ||
			    (ds.st_mode & (S_IWGRP | S_IWOTH)))) {
				close(fd);
				close(dir);
				return snprintf(err, errlen, "tls: %s: a hard link in a folder "
				    "others may write: as root, certificates and keys are read "
				    "only from root's own files, links and folders", path), -1;
			}
			close(dir);
			return fd;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			snprintf(err, errlen, "tls: %s: cannot read: %s is not a folder", path, shown);
			goto fail;
		}
		close(dir);
		dir = fd;
	}
	snprintf(err, errlen, "tls: %s: not a regular file", path);
fail:
	if (dir >= 0)
		close(dir);
	return -1;
}

/* Reads PEM at path into a BIO. As root, only what only root can have
 * put there (tls_front_open_root): the service user must not be able to
 * swap in another file for root to read and serve, another site's key. */
static BIO *tls_front_read_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	BIO *b;
	int fd;

	if (geteuid() == 0) {
		if ((fd = tls_front_open_root(path, err, errlen)) < 0)
			return NULL;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		return snprintf(err, errlen, "tls: %s: cannot read: %s", path,
		    strerror(errno)), NULL;
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return snprintf(err, errlen, "tls: %s: not a regular file", path), NULL;
	}
	b = tls_front_read_fd(fd, path, err, errlen);
	close(fd);
	return b;
}

/* Gives the context the certificate (then any chain) of cb and the key of
 * kb, checking they match. */
static int tls_front_use(BIO *cb, BIO *kb, const char *cname, const char *kname,
    char *err, size_t errlen)
{
	X509 *cert = PEM_read_bio_X509(cb, NULL, tls_front_no_passphrase, NULL);
	EVP_PKEY *key;
	X509 *extra;

	if (!cert)
		return tls_front_fail(err, errlen, "no PEM certificate", cname);
	if (!SSL_CTX_use_certificate(tls_front_ctx, cert)) {
		X509_free(cert);
		return tls_front_fail(err, errlen, "certificate refused", cname);
	}
	X509_free(cert);
	while ((extra = PEM_read_bio_X509(cb, NULL, tls_front_no_passphrase, NULL)))
		if (!SSL_CTX_add0_chain_cert(tls_front_ctx, extra))
			X509_free(extra);
	ERR_clear_error();           /* the end of the chain */
	if (kb == cb)                /* one file: the key is before the certificate */
		(void)BIO_reset(kb);
	key = PEM_read_bio_PrivateKey(kb, NULL, tls_front_no_passphrase, NULL);
	if (!key)
		return tls_front_fail(err, errlen, "no PEM private key (an encrypted "
		    "one is refused)", kname);
	if (!SSL_CTX_use_PrivateKey(tls_front_ctx, key)) {
		EVP_PKEY_free(key);
		return tls_front_fail(err, errlen, "is not the key of the certificate, "
		    "or not a usable key", kname);
	}
	EVP_PKEY_free(key);
	if (!SSL_CTX_check_private_key(tls_front_ctx))
		return tls_front_fail(err, errlen, "is not the key of the certificate",
		    kname);
	tls_front_has_cert = true;
	return 0;
}

int tls_front_setup(const struct config *cfg, char *err, size_t errlen)
{
	BIO *cb, *kb;
	int rc;

	if (!config_any_tls(cfg) || tls_front_ctx)
		return 0;
	if (ssl_api_load(err, errlen) < 0)
		return -1;
	/* openssl.cnf is not read: its MinProtocol and CipherString would
	 * refuse the scanners we want to see. */
	if (!OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS |
	        OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL))
		return tls_front_fail(err, errlen, "cannot initialise OpenSSL", NULL);
	if (!(tls_front_ctx = tls_front_new_ctx(err, errlen)))
		return -1;
	if (!cfg->tls_cert)
		return 0;
	if (!(cb = tls_front_read_file(cfg->tls_cert, err, errlen)))
		return -1;
	if (!(kb = tls_front_read_file(cfg->tls_key, err, errlen))) {
		BIO_free(cb);
		return -1;
	}
	rc = tls_front_use(cb, kb, cfg->tls_cert, cfg->tls_key, err, errlen);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

bool tls_front_ready(void)
{
	return tls_front_ctx && tls_front_has_cert;
}

/* ---- the self-signed certificate ------------------------------------- */

/* A new RSA-2048 key and a certificate for it, PEM (key, then
 * certificate) in a new memory BIO. */
static BIO *tls_front_make(const char *host, char *err, size_t errlen)
{
	char san[300];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *x = X509_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	uint64_t serial = 0;
	BIO *out = NULL;

	if (!key || !x)
		goto fail;
	snprintf(san, sizeof(san), "DNS:%s", host);
	if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
		goto fail;
	serial &= INT64_MAX;         /* positive */
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)TLS_FRONT_DAYS * 86400) ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	        (const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)) ||
	    !X509_add_ext(x, ext, -1) ||
	    !X509_sign(x, key, EVP_sha256()))
		goto fail;
	if (!(out = tls_front_mem_bio()) ||
	    !PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(out, x)) {
		BIO_free(out);
		out = NULL;
		goto fail;
	}
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(key);
	return out;
fail:
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(key);
	return tls_front_fail(err, errlen, "cannot make a self-signed certificate",
	    NULL), NULL;
}

/* Whether the PEM in b (key and certificate) is usable: parses, matches,
 * not expired, and its CN is name (one made before --tls-name, or with
 * the host's name as it once was, is made again). Leaves b's read
 * position at its start. */
static bool tls_front_usable(BIO *b, const char *name)
{
	EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, tls_front_no_passphrase, NULL);
	char cn[256] = "";
	X509 *x;
	bool ok;

	(void)BIO_reset(b);
	x = PEM_read_bio_X509(b, NULL, tls_front_no_passphrase, NULL);
	(void)BIO_reset(b);
	ok = key && x && X509_check_private_key(x, key) &&
	    X509_cmp_current_time(X509_getm_notAfter(x)) > 0 &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
	        (int)sizeof(cn)) > 0 && strcmp(cn, name) == 0;
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return ok;
}

/* Writes b's bytes to name in dirfd through a new file renamed over it
 * (whatever was there, a link included, is replaced, not followed). */
static int tls_front_store(int dirfd, const char *name, const char *shown, BIO *b,
    char *err, size_t errlen)
{
	char tmp[64], *data;
	long len = BIO_get_mem_data(b, &data);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", name);
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return snprintf(err, errlen, "tls: %s.new: %s", shown, strerror(errno)), -1;
	fd = state_openat(dirfd, tmp, shown, O_WRONLY | O_CREAT | O_EXCL, 0, err, errlen);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0600) < 0 || write(fd, data, (size_t)len) != (ssize_t)len ||
	    fsync(fd) < 0) {
		snprintf(err, errlen, "tls: %s: %s", shown, strerror(errno));
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		snprintf(err, errlen, "tls: %s: %s", shown, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

int tls_front_self_signed(const struct config *cfg, char *err, size_t errlen)
{
	char real[STATE_PATH_MAX], shown[STATE_PATH_MAX + 32];
	const char *name = cfg->tls_name ? cfg->tls_name : CONFIG_TLS_NAME;
	BIO *b = NULL;
	int dirfd, fd, rc = -1;

	if (!tls_front_ctx || tls_front_has_cert)
		return 0;
	dirfd = state_open_dir(cfg->db_path, STATE_NO_STICKY, real, sizeof(real), err,
	    errlen);
	if (dirfd < 0)
		return -1;
	*strrchr(real, '/') = '\0';
	snprintf(shown, sizeof(shown), "%s/%s", real, TLS_FRONT_SELF_SIGNED);
	fd = state_openat(dirfd, TLS_FRONT_SELF_SIGNED, shown, O_RDONLY,
	    STATE_REFUSE_WRITABLE, err, errlen);
	if (fd >= 0) {
		struct stat st;
		/* the key is in it: the user's alone */
		if (fstat(fd, &st) == 0 && (st.st_mode & 077))
			(void)fchmod(fd, 0600);
		b = tls_front_read_fd(fd, shown, err, errlen);
		close(fd);
		if (b && !tls_front_usable(b, name)) {
			BIO_free(b);
			b = NULL;
		}
	}
	if (!b) {
		if (!(b = tls_front_make(name, err, errlen)))
			goto out;
		if (tls_front_store(dirfd, TLS_FRONT_SELF_SIGNED, shown, b, err, errlen) < 0)
			goto out;
	}
	rc = tls_front_use(b, b, shown, shown, err, errlen);
out:
	BIO_free(b);
	close(dirfd);
	return rc;
}

/* ---- a session's front ----------------------------------------------- */

size_t tls_front_size(void)
{
	return TLS_FRONT_COST + TLS_FRONT_READ_BUF + TLS_FRONT_HANDSHAKE + TLSHELLO_MAX;
}

/* What the front holds now: a handshake's worth until it ends, then the
 * idle cost and the kept hello. */
static size_t tls_front_holds(const struct tls_front *t)
{
	if (tls_front_handshaking(t))
		return tls_front_size();
	return TLS_FRONT_COST + TLS_FRONT_READ_BUF + t->hello_cap;
}

size_t tls_front_settle(struct tls_front *t)
{
	size_t now = tls_front_holds(t), back = 0;

	if (now < t->charged) {
		back = t->charged - now;
		t->charged = now;
	}
	return back;
}

size_t tls_front_charged(const struct tls_front *t)
{
	return t->charged;
}

struct tls_front *tls_front_new(void)
{
	struct tls_front *t = calloc(1, sizeof(*t));

	if (!t || !tls_front_ctx)
		goto fail;
	t->charged = tls_front_size();
	t->due = TLS_FRONT_HEAD;
	if (!(t->ssl = SSL_new(tls_front_ctx)))
		goto fail;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	/* An empty read BIO means "wait for bytes", not the end. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_ex_data(t->ssl, 0, t);
	SSL_set_accept_state(t->ssl);
	return t;
fail:
	if (t)
		SSL_free(t->ssl);
	free(t);
	ERR_clear_error();
	return NULL;
}

void tls_front_free(struct tls_front *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t->hello);
	free(t);
}

/* Whether tlshello_extent can answer anew at the held length. While the
 * first bytes decide (TLS or not), always; then a record header that
 * breaks the rules, the handshake header once whole (the announced size),
 * the handshake once all its bytes are in, or the cap. Records are
 * followed here as they complete, so a hello sent as one-byte records, a
 * byte a segment, costs a few walks, not one per byte or per record. An
 * SSLv2 hello is decided by its header and then its end. */
static bool tls_front_due(struct tls_front *t)
{
	const uint8_t *b = t->hello;
	size_t n = t->hello_len;
	bool due = false;

	if (n < TLS_FRONT_HEAD || n == TLSHELLO_MAX)
		return true;
	if (b[0] & 0x80) {
		if (n < t->due)
			return false;
		t->due = n < TLS_FRONT_SSLV2_HEAD ? (uint32_t)n + 1 :
		    2 + ((uint32_t)(b[0] & 0x7f) << 8 | b[1]);
		return true;
	}
	while (n >= t->due) {
		const uint8_t *h = b + t->rec_at;
		uint32_t start = t->rec_at + TLS_FRONT_HEAD;
		if (t->due == start) {   /* a record's header is whole */
			uint32_t len = (uint32_t)h[3] << 8 | h[4];
			if (h[0] != 0x16 || h[1] != 3 || h[2] > 4 || len == 0 ||
			    len > TLS_FRONT_RECORD_MAX)
				return true;     /* extent says malformed */
			t->due = start + len;
			continue;
		}
		/* the record is whole: its bytes count towards the handshake */
		for (uint32_t i = start; i < t->due; i++) {
			if (t->hs_got < 4)
				t->hs[t->hs_got] = b[i];
			t->hs_got++;
		}
		if (!t->hs_need && t->hs_got >= 4) {
			t->hs_need = 4 + ((uint32_t)t->hs[1] << 16 | (uint32_t)t->hs[2] << 8 |
			    t->hs[3]);
			due = true;          /* the announced size, or not a hello */
		}
		if (t->hs_need && t->hs_got >= t->hs_need)
			due = true;          /* the hello is in */
		t->rec_at = t->due;
		t->due = t->rec_at + TLS_FRONT_HEAD;
	}
	/* the handshake header whole inside a record still coming: the
	 * announced size may decide now, not 16 KB later (once) */
	if (!t->hs_need && !t->hs_peeked && t->due > t->rec_at + TLS_FRONT_HEAD &&
	    t->hs_got + (n - t->rec_at - TLS_FRONT_HEAD) >= 4) {
		t->hs_peeked = true;
		due = true;
	}
	return due;
}

/* Holds the stream's first bytes (at most TLSHELLO_MAX) until
 * tlshello_extent decides what they are; once it says a hello is whole,
 * they are the kept hello, cut at its end. Returns its answer (PARTIAL
 * while it has none), or -1 when out of memory. */
static int tls_front_hold(struct tls_front *t, const char *data, size_t n)
{
	size_t room = TLSHELLO_MAX - t->hello_len, take = n < room ? n : room, end = 0;
	enum tlshello_state st;

	if (t->hello_len + take > t->hello_cap) {
		size_t cap = t->hello_cap ? t->hello_cap * 2 : TLS_FRONT_HELLO_MIN;
		while (cap < t->hello_len + take)
			cap *= 2;
		if (cap > TLSHELLO_MAX)
			cap = TLSHELLO_MAX;
		uint8_t *p = realloc(t->hello, cap);
		if (!p)
			return -1;
		t->hello = p;
		t->hello_cap = (uint32_t)cap;
	}
	memcpy(t->hello + t->hello_len, data, take);
	t->hello_len += (uint32_t)take;
	if (!tls_front_due(t))
		return TLSHELLO_PARTIAL;
	st = tlshello_extent(t->hello, t->hello_len, &end);
	if (st == TLSHELLO_PARTIAL && t->hello_len == TLSHELLO_MAX)
		st = TLSHELLO_OVERSIZED;     /* cannot happen: extent decides by then */
	if (st != TLSHELLO_NONE && st != TLSHELLO_PARTIAL) {
		if (end && end < t->hello_len)
			t->hello_len = (uint32_t)end;
		t->hello_ns = t->now_ns;
	}
	return (int)st;
}

/* A memory BIO keeps the buffer it grew to, empty or not: one drained
 * is swapped for a new one, which holds nothing until written (an idle
 * session keeps no handshake-sized buffers: DESIGN.md, "TLS front"). */
static void tls_front_shrink(struct tls_front *t, bool wbio)
{
	BIO *old = wbio ? t->wbio : t->rbio, *fresh;
	BUF_MEM *bm = NULL;

	if (BIO_get_mem_ptr(old, &bm) <= 0 || !bm || bm->max == 0 || bm->length)
		return;
	if (!(fresh = BIO_new(BIO_s_mem())))
		return;              /* keep the old one: it works */
	if (wbio) {
		SSL_set0_wbio(t->ssl, fresh);
		t->wbio = fresh;
	} else {
		BIO_set_mem_eof_return(fresh, -1);
		SSL_set0_rbio(t->ssl, fresh);
		t->rbio = fresh;
	}
}

/* The handshake failed: the peer's alert, or ours. */
static enum tls_front_status tls_front_failed(struct tls_front *t)
{
	t->failed = true;
	if (t->error == TLS_ERR_NONE)
		t->error = t->alert[0] && t->alert_in ? TLS_ERR_PEER_ALERT : TLS_ERR_PROTOCOL;
	ERR_clear_error();
	return TLS_FRONT_FAILED;
}

/* A hello that OpenSSL must not see (announced past TLSHELLO_MAX, or
 * breaking the records' rules): our own fatal alert, as OpenSSL would
 * have sent it, and the handshake fails as protocol. */
static enum tls_front_status tls_front_refuse(struct tls_front *t, enum tlshello_state st)
{
	unsigned char desc = st == TLSHELLO_OVERSIZED ? 47 : 50;  /* illegal_parameter,
	                                                            * decode_error */
	const unsigned char alert[7] = {21, 3, 1, 0, 2, 2, desc};

	(void)BIO_write(t->wbio, alert, sizeof(alert));
	t->alert_in = false;
	tls_front_alert_name(desc, t->alert, sizeof(t->alert));
	t->error = TLS_ERR_PROTOCOL;
	return tls_front_failed(t);
}

/* One handshake record's body bytes: the message headers (split across
 * records or not) and the announced sizes. False: one announced past
 * TLSHELLO_MAX (the first hello was held to that cap; no later one may
 * make OpenSSL allocate more). */
static bool tls_front_walk_hs(struct tls_front *t, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; ) {
		if (t->wk_msg) {
			size_t k = n - i < t->wk_msg ? n - i : t->wk_msg;
			t->wk_msg -= (uint32_t)k;
			i += k;
			continue;
		}
		t->wk_msg_hdr[t->wk_msg_got++] = b[i++];
		if (t->wk_msg_got == 4) {
			uint32_t body = (uint32_t)t->wk_msg_hdr[1] << 16 |
			    (uint32_t)t->wk_msg_hdr[2] << 8 | t->wk_msg_hdr[3];
			t->wk_msg_got = 0;
			if (4 + (size_t)body > TLSHELLO_MAX)
				return false;
			t->wk_msg = body;
		}
	}
	return true;
}

/* Walks the records of the bytes OpenSSL is about to be given, from the
 * stream's first byte (an SSLv2-style hello's 2-byte header too) until
 * the handshake is done. Handshake records (22) are read for their
 * messages' sizes; the rest (change_cipher_spec, alert, TLS 1.3's
 * encrypted 23) are skipped. Under TLS 1.2 the handshake records after
 * the client's change_cipher_spec are encrypted: the walk stops there
 * (its Finished is all that follows, and OpenSSL caps it small). Before
 * the version is chosen, or under TLS 1.3 (whose plaintext second hello
 * may follow a compatibility change_cipher_spec), the walk goes on.
 * False: a message announced past the cap. */
static bool tls_front_walk(struct tls_front *t, const uint8_t *b, size_t n)
{
	size_t i = 0;

	if (!t->wk_begun && n) {
		t->wk_begun = true;
		t->wk_v2 = (b[0] & 0x80) != 0;
	}
	while (i < n && !t->wk_off) {
		if (t->wk_rec) {
			size_t k = n - i < t->wk_rec ? n - i : t->wk_rec;
			if (t->wk_type == 22 && !tls_front_walk_hs(t, b + i, k))
				return false;
			t->wk_rec -= (uint32_t)k;
			i += k;
			continue;
		}
		t->wk_hdr[t->wk_hdr_got++] = b[i++];
		if (t->wk_v2 && t->wk_hdr_got == 2) {
			/* an SSLv2-style hello: its record, skipped whole */
			t->wk_rec = (uint32_t)(t->wk_hdr[0] & 0x7f) << 8 | t->wk_hdr[1];
			t->wk_type = 0;
			t->wk_v2 = false;
			t->wk_hdr_got = 0;
		} else if (t->wk_hdr_got == TLS_FRONT_HEAD) {
			int v = SSL_version(t->ssl);
			t->wk_type = t->wk_hdr[0];
			t->wk_rec = (uint32_t)t->wk_hdr[3] << 8 | t->wk_hdr[4];
			t->wk_hdr_got = 0;
			if (t->wk_type == 20 && v >= SSL3_VERSION && v <= TLS1_2_VERSION)
				t->wk_off = true;
		}
	}
	return true;
}

/* The held bytes were no TLS after all (a binary client's high-bit first
 * byte): the session takes them, and what came with them, as plaintext. */
static enum tls_front_status tls_front_plain(struct tls_front *t, size_t held)
{
	t->plain = true;
	t->error = TLS_ERR_NOT_TLS;
	t->held = (uint32_t)held;
	t->hello_len = 0;
	t->raw_in = 0;
	return TLS_FRONT_PLAIN;
}

const char *tls_front_held(const struct tls_front *t, size_t *len)
{
	*len = t->plain ? t->held : 0;
	return (const char *)t->hello;
}

/* Until the hello is decided, bytes are only held; then OpenSSL is given
 * all of them at once. */
static enum tls_front_status tls_front_decide(struct tls_front *t, const char *data,
    size_t n)
{
	size_t held = t->hello_len;
	int st = tls_front_hold(t, data, n);

	if (st < 0)
		return tls_front_failed(t);
	if (st == TLSHELLO_PARTIAL)
		return TLS_FRONT_MORE;
	if (st == TLSHELLO_NONE)
		return tls_front_plain(t, held);
	if (st == TLSHELLO_MALFORMED || st == TLSHELLO_OVERSIZED)
		return tls_front_refuse(t, (enum tlshello_state)st);
	t->decided = true;
	if (!tls_front_walk(t, t->hello, held))
		return tls_front_refuse(t, TLSHELLO_OVERSIZED);
	if (held && BIO_write(t->rbio, t->hello, (int)held) != (int)held)
		return tls_front_failed(t);
	return TLS_FRONT_READY;
}

enum tls_front_status tls_front_feed(struct tls_front *t, const char *data, size_t n,
    uint64_t now_ns)
{
	enum tls_front_status st;
	int rc;

	if (t->plain)
		return TLS_FRONT_PLAIN;
	if (t->failed)
		return TLS_FRONT_FAILED;
	t->now_ns = now_ns;
	if (!t->started) {
		unsigned char b0 = (unsigned char)data[0];
		t->started = true;
		/* A handshake record (22), or maybe an SSLv2-style hello (high
		 * bit): anything else is a plaintext client, kept as such. */
		if (b0 != 0x16 && !(b0 & 0x80))
			return tls_front_plain(t, 0);
	}
	t->raw_in += n;
	if (!t->decided && (st = tls_front_decide(t, data, n)) != TLS_FRONT_READY)
		return st;
	if (!t->established && !tls_front_walk(t, (const uint8_t *)data, n))
		return tls_front_refuse(t, TLSHELLO_OVERSIZED);
	if (BIO_write(t->rbio, data, (int)n) != (int)n)
		return tls_front_failed(t);
	if (t->established)
		return TLS_FRONT_READY;
	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->established = true;
		t->done_ns = now_ns;
		t->version = SSL_get_version(t->ssl);
		t->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl));
		return TLS_FRONT_READY;
	}
	if (SSL_get_error(t->ssl, rc) == SSL_ERROR_WANT_READ) {
		tls_front_shrink(t, false);
		return TLS_FRONT_MORE;
	}
	return tls_front_failed(t);
}

long tls_front_read(struct tls_front *t, char *buf, size_t cap)
{
	int n, e;

	if (!t->established || t->failed)
		return -1;
	ERR_clear_error();
	n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
	if (n > 0)
		return n;
	e = SSL_get_error(t->ssl, n);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ) {
		tls_front_shrink(t, false);
		return 0;
	}
	return e == SSL_ERROR_ZERO_RETURN ? -1 : -2;
}

int tls_front_write(struct tls_front *t, const char *data, size_t len)
{
	if (!t->established || t->failed || len > INT32_MAX)
		return -1;
	ERR_clear_error();
	/* A memory BIO takes it all: the session sends or queues it at once,
	 * under its own caps. */
	if (SSL_write(t->ssl, data, (int)len) != (int)len) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

size_t tls_front_output(struct tls_front *t, char *buf, size_t cap)
{
	int n = BIO_read(t->wbio, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);

	if (n > 0)
		return (size_t)n;
	tls_front_shrink(t, true);
	return 0;
}

bool tls_front_established(const struct tls_front *t)
{
	return t->established;
}

bool tls_front_handshaking(const struct tls_front *t)
{
	return !t->established && !t->plain && !t->failed;
}

void tls_front_abort(struct tls_front *t, enum record_tls_error error)
{
	if (!tls_front_handshaking(t))
		return;
	t->failed = true;
	t->error = error;
}

void tls_front_count_out(struct tls_front *t, size_t n)
{
	t->raw_out += n;
}

struct record_tls_front *tls_front_record(const struct tls_front *t, uint64_t start_ns)
{
	uint32_t keep = t->hello_len;
	struct record_tls_front *r = calloc(1, sizeof(*r) + keep);

	if (!r)
		return NULL;
	r->error = t->error;
	if (t->version)
		snprintf(r->version, sizeof(r->version), "%s", t->version);
	if (t->cipher)
		snprintf(r->cipher, sizeof(r->cipher), "%s", t->cipher);
	memcpy(r->alert, t->alert, sizeof(r->alert));
	r->hello_ms = t->hello_ns ? (int64_t)((t->hello_ns - start_ns) / NS_PER_MS) : -1;
	r->done_ms = t->done_ns ? (int64_t)((t->done_ns - start_ns) / NS_PER_MS) : -1;
	r->raw_in = t->raw_in;
	r->raw_out = t->raw_out;
	r->hello_len = keep;
	if (keep)
		memcpy(r->hello, t->hello, keep);
	return r;
}

const char *tls_front_alert_name(unsigned code, char *buf, size_t len)
{
	static const struct { unsigned code; const char *name; } names[] = {
		{0, "close_notify"}, {10, "unexpected_message"}, {20, "bad_record_mac"},
		{21, "decryption_failed"}, {22, "record_overflow"},
		{30, "decompression_failure"}, {40, "handshake_failure"},
		{41, "no_certificate"}, {42, "bad_certificate"},
		{43, "unsupported_certificate"}, {44, "certificate_revoked"},
		{45, "certificate_expired"}, {46, "certificate_unknown"},
		{47, "illegal_parameter"}, {48, "unknown_ca"}, {49, "access_denied"},
		{50, "decode_error"}, {51, "decrypt_error"}, {60, "export_restriction"},
		{70, "protocol_version"}, {71, "insufficient_security"},
		{80, "internal_error"}, {86, "inappropriate_fallback"},
		{90, "user_canceled"}, {100, "no_renegotiation"},
		{109, "missing_extension"}, {110, "unsupported_extension"},
		{111, "certificate_unobtainable"}, {112, "unrecognized_name"},
		{113, "bad_certificate_status_response"},
		{114, "bad_certificate_hash_value"}, {115, "unknown_psk_identity"},
		{116, "certificate_required"}, {120, "no_application_protocol"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code) {
			snprintf(buf, len, "%s", names[i].name);
			return buf;
		}
	snprintf(buf, len, "alert_%u", code);
	return buf;
}
