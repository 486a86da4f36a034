/* tls-handshake-memory.c - what OpenSSL holds per session while a TLS
 * front's handshake is under way: 300 server SSL objects, the context set
 * as tls_front.c sets it (RSA-2048, security level 0, every version,
 * RELEASE_BUFFERS), each fed a peer's bytes and its output drained and
 * its BIOs swapped as the front does; prints the heap (mallinfo2) per
 * session. Modes: new (SSL_new only), nine-old (the 9-byte peer whose
 * hello announces 131000 bytes, fed to OpenSSL as the front did before it
 * held hellos), nine-new (what the front holds for it now: the bytes,
 * not OpenSSL's), hello FILE (a captured ClientHello: the state after our
 * flight, waiting for the client's Finished, with the kept hello). Asserts
 * nothing.
 *
 *   make build/bench/tls-handshake-memory
 *   build/bench/tls-handshake-memory hello curl.hello */
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N 300
static unsigned char hello[65536]; static size_t hlen;
static char scratch[1<<20];
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "new";
	if (argc > 2) { FILE *f = fopen(argv[2], "rb"); hlen = fread(hello, 1, sizeof(hello), f); fclose(f); }
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
	SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	EVP_PKEY *key = EVP_RSA_gen(2048); X509 *x = X509_new();
	X509_set_version(x, 2); X509_gmtime_adj(X509_getm_notBefore(x), 0); X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key); X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x)); X509_sign(x, key, EVP_sha256());
	SSL_CTX_use_certificate(ctx, x); SSL_CTX_use_PrivateKey(ctx, key);
	static SSL *s[N]; static void *held[N];
	/* warm up once */
	for (int w = 0; w < 2; w++) { SSL *t = SSL_new(ctx); BIO *r = BIO_new(BIO_s_mem()), *o = BIO_new(BIO_s_mem()); BIO_set_mem_eof_return(r,-1); SSL_set_bio(t,r,o); SSL_set_accept_state(t); if (hlen) { BIO_write(r, hello, (int)hlen); SSL_do_handshake(t);} SSL_free(t); }
	malloc_trim(0);
	struct mallinfo2 a = mallinfo2();
	for (int i = 0; i < N; i++) {
		s[i] = SSL_new(ctx);
		BIO *r = BIO_new(BIO_s_mem()), *o = BIO_new(BIO_s_mem());
		BIO_set_mem_eof_return(r, -1); SSL_set_bio(s[i], r, o); SSL_set_accept_state(s[i]);
		if (!strcmp(mode, "nine-old")) {
			static const unsigned char nine[9] = {0x16,3,1,0,4,1,1,0xff,0xb8};
			BIO_write(r, nine, 9); SSL_do_handshake(s[i]);
		} else if (!strcmp(mode, "nine-new")) {
			held[i] = malloc(512); memcpy(held[i], "\x16\x03\x01\x00\x04\x01\x01\xff\xb8", 9);
		} else if (!strcmp(mode, "hello")) {
			int rc = SSL_do_handshake(s[i]);
			BIO_write(r, hello, (int)hlen); rc = SSL_do_handshake(s[i]);
			if (i == 0) fprintf(stderr, "rc %d err %d out %d\n", rc, SSL_get_error(s[i], rc), (int)BIO_pending(o));
			/* the session moves the flight to the socket; empty BIOs are swapped */
			while (BIO_read(o, scratch, sizeof(scratch)) > 0) ;
			BIO *fo = BIO_new(BIO_s_mem()); SSL_set0_wbio(s[i], fo);
			BIO *fr = BIO_new(BIO_s_mem()); BIO_set_mem_eof_return(fr, -1); SSL_set0_rbio(s[i], fr);
			held[i] = malloc(hlen);   /* the kept hello */
		}
	}
	struct mallinfo2 b = mallinfo2();
	printf("%s%s%s: %.1f KiB heap a session (%d sessions)\n", mode, argc > 2 ? " " : "", argc > 2 ? argv[2] : "",
	    (double)(b.uordblks - a.uordblks) / N / 1024, N);
	return 0;
}
