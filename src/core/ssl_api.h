/* ssl_api.h - OpenSSL 3 (libssl and the libcrypto it needs) through
 * dlopen, like libpcap (pcap_api.h) and libyara: linked, libssl and
 * libcrypto (~5 MB of relocations) would cost every exec, inetd children's
 * too, although only a run with a TLS listener uses them. Include this
 * instead of <openssl/ssl.h>: each function used is #defined to its entry
 * in a table ssl_api_load fills (OpenSSL's own macros, SSL_CTX_set_mode
 * and the like, expand to SSL_CTX_ctrl, BIO_ctrl... and so reach the
 * table too). A function not in the table does not link (no -lssl): add
 * it to both lists below. */
#ifndef FLYPAPER_SSL_API_H
#define FLYPAPER_SSL_API_H

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>

/* Every libssl and libcrypto function flypaper calls. */
#define SSL_API_FUNCTIONS(X) \
	X(OPENSSL_init_ssl) \
	X(TLS_server_method) \
	X(SSL_CTX_new) \
	X(SSL_CTX_free) \
	X(SSL_CTX_ctrl) \
	X(SSL_CTX_set_options) \
	X(SSL_CTX_set_cipher_list) \
	X(SSL_CTX_set_ciphersuites) \
	X(SSL_CTX_set_security_level) \
	X(SSL_CTX_set_num_tickets) \
	X(SSL_CTX_use_certificate) \
	X(SSL_CTX_use_PrivateKey) \
	X(SSL_CTX_check_private_key) \
	X(SSL_CTX_set_alpn_select_cb) \
	X(SSL_CTX_set_info_callback) \
	X(SSL_CTX_set_client_hello_cb) \
	X(TLS_method) \
	X(SSL_set_connect_state) \
	X(SSL_set0_rbio) \
	X(SSL_set0_wbio) \
	X(SSL_new) \
	X(SSL_free) \
	X(SSL_set_bio) \
	X(SSL_set_accept_state) \
	X(SSL_do_handshake) \
	X(SSL_read) \
	X(SSL_write) \
	X(SSL_get_error) \
	X(SSL_get_version) \
	X(SSL_version) \
	X(SSL_get_current_cipher) \
	X(SSL_CIPHER_get_name) \
	X(SSL_set_ex_data) \
	X(SSL_get_ex_data) \
	X(SSL_is_init_finished) \
	X(SSL_select_next_proto) \
	X(BIO_new) \
	X(BIO_s_mem) \
	X(BIO_new_mem_buf) \
	X(BIO_ctrl) \
	X(BIO_read) \
	X(BIO_write) \
	X(BIO_free) \
	X(BIO_set_flags) \
	X(ERR_clear_error) \
	X(ERR_get_error) \
	X(ERR_error_string_n) \
	X(EVP_PKEY_Q_keygen) \
	X(EVP_PKEY_free) \
	X(EVP_sha256) \
	X(X509_new) \
	X(X509_free) \
	X(X509_set_version) \
	X(X509_get_serialNumber) \
	X(ASN1_INTEGER_set_uint64) \
	X(X509_gmtime_adj) \
	X(X509_getm_notBefore) \
	X(X509_getm_notAfter) \
	X(X509_cmp_current_time) \
	X(X509_set_pubkey) \
	X(X509_get_subject_name) \
	X(X509_NAME_get_text_by_NID) \
	X(X509_NAME_add_entry_by_txt) \
	X(X509_set_issuer_name) \
	X(X509_sign) \
	X(X509V3_set_ctx) \
	X(X509V3_EXT_conf_nid) \
	X(X509_add_ext) \
	X(X509_EXTENSION_free) \
	X(X509_check_private_key) \
	X(PEM_read_bio_X509) \
	X(PEM_read_bio_PrivateKey) \
	X(PEM_write_bio_X509) \
	X(PEM_write_bio_PrivateKey) \
	X(RAND_bytes)

/* The table: one pointer per function, typed from OpenSSL's own
 * prototypes. */
struct ssl_api {
#define SSL_API_FIELD(name) __typeof__(&name) name;
	SSL_API_FUNCTIONS(SSL_API_FIELD)
#undef SSL_API_FIELD
};

extern struct ssl_api ssl_api;

/* Loads libssl (and, as its dependency, libcrypto) from the absolute path
 * of its soname found at build time (FLYPAPER_LIBSSL), once per process:
 * as root, before the privilege drop and confinement, which forbid
 * mapping code. The file and every folder above it must be root's and
 * writable by no one else (dlib_trusted). Returns 0, or -1 with a message
 * naming the file and the package to install (libssl3) in err. */
int ssl_api_load(char *err, size_t errlen);

/* True once ssl_api_load succeeded. */
bool ssl_api_loaded(void);

#ifndef SSL_API_TABLE
#define OPENSSL_init_ssl (ssl_api.OPENSSL_init_ssl)
#define TLS_server_method (ssl_api.TLS_server_method)
#define SSL_CTX_new (ssl_api.SSL_CTX_new)
#define SSL_CTX_free (ssl_api.SSL_CTX_free)
#define SSL_CTX_ctrl (ssl_api.SSL_CTX_ctrl)
#define SSL_CTX_set_options (ssl_api.SSL_CTX_set_options)
#define SSL_CTX_set_cipher_list (ssl_api.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (ssl_api.SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_security_level (ssl_api.SSL_CTX_set_security_level)
#define SSL_CTX_set_num_tickets (ssl_api.SSL_CTX_set_num_tickets)
#define SSL_CTX_use_certificate (ssl_api.SSL_CTX_use_certificate)
#define SSL_CTX_use_PrivateKey (ssl_api.SSL_CTX_use_PrivateKey)
#define SSL_CTX_check_private_key (ssl_api.SSL_CTX_check_private_key)
#define SSL_CTX_set_alpn_select_cb (ssl_api.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_info_callback (ssl_api.SSL_CTX_set_info_callback)
#define SSL_CTX_set_client_hello_cb (ssl_api.SSL_CTX_set_client_hello_cb)
#define TLS_method (ssl_api.TLS_method)
#define SSL_set_connect_state (ssl_api.SSL_set_connect_state)
#define SSL_set0_rbio (ssl_api.SSL_set0_rbio)
#define SSL_set0_wbio (ssl_api.SSL_set0_wbio)
#define SSL_new (ssl_api.SSL_new)
#define SSL_free (ssl_api.SSL_free)
#define SSL_set_bio (ssl_api.SSL_set_bio)
#define SSL_set_accept_state (ssl_api.SSL_set_accept_state)
#define SSL_do_handshake (ssl_api.SSL_do_handshake)
#define SSL_read (ssl_api.SSL_read)
#define SSL_write (ssl_api.SSL_write)
#define SSL_get_error (ssl_api.SSL_get_error)
#define SSL_get_version (ssl_api.SSL_get_version)
#define SSL_version (ssl_api.SSL_version)
#define SSL_get_current_cipher (ssl_api.SSL_get_current_cipher)
#define SSL_CIPHER_get_name (ssl_api.SSL_CIPHER_get_name)
#define SSL_set_ex_data (ssl_api.SSL_set_ex_data)
#define SSL_get_ex_data (ssl_api.SSL_get_ex_data)
#define SSL_is_init_finished (ssl_api.SSL_is_init_finished)
#define SSL_select_next_proto (ssl_api.SSL_select_next_proto)
#define BIO_new (ssl_api.BIO_new)
#define BIO_s_mem (ssl_api.BIO_s_mem)
#define BIO_new_mem_buf (ssl_api.BIO_new_mem_buf)
#define BIO_ctrl (ssl_api.BIO_ctrl)
#define BIO_read (ssl_api.BIO_read)
#define BIO_write (ssl_api.BIO_write)
#define BIO_free (ssl_api.BIO_free)
#define BIO_set_flags (ssl_api.BIO_set_flags)
#define ERR_clear_error (ssl_api.ERR_clear_error)
#define ERR_get_error (ssl_api.ERR_get_error)
#define ERR_error_string_n (ssl_api.ERR_error_string_n)
#define EVP_PKEY_Q_keygen (ssl_api.EVP_PKEY_Q_keygen)
#define EVP_PKEY_free (ssl_api.EVP_PKEY_free)
#define EVP_sha256 (ssl_api.EVP_sha256)
#define X509_new (ssl_api.X509_new)
#define X509_free (ssl_api.X509_free)
#define X509_set_version (ssl_api.X509_set_version)
#define X509_get_serialNumber (ssl_api.X509_get_serialNumber)
#define ASN1_INTEGER_set_uint64 (ssl_api.ASN1_INTEGER_set_uint64)
#define X509_gmtime_adj (ssl_api.X509_gmtime_adj)
#define X509_getm_notBefore (ssl_api.X509_getm_notBefore)
#define X509_getm_notAfter (ssl_api.X509_getm_notAfter)
#define X509_cmp_current_time (ssl_api.X509_cmp_current_time)
#define X509_set_pubkey (ssl_api.X509_set_pubkey)
#define X509_get_subject_name (ssl_api.X509_get_subject_name)
#define X509_NAME_get_text_by_NID (ssl_api.X509_NAME_get_text_by_NID)
#define X509_NAME_add_entry_by_txt (ssl_api.X509_NAME_add_entry_by_txt)
#define X509_set_issuer_name (ssl_api.X509_set_issuer_name)
#define X509_sign (ssl_api.X509_sign)
#define X509V3_set_ctx (ssl_api.X509V3_set_ctx)
#define X509V3_EXT_conf_nid (ssl_api.X509V3_EXT_conf_nid)
#define X509_add_ext (ssl_api.X509_add_ext)
#define X509_EXTENSION_free (ssl_api.X509_EXTENSION_free)
#define X509_check_private_key (ssl_api.X509_check_private_key)
#define PEM_read_bio_X509 (ssl_api.PEM_read_bio_X509)
#define PEM_read_bio_PrivateKey (ssl_api.PEM_read_bio_PrivateKey)
#define PEM_write_bio_X509 (ssl_api.PEM_write_bio_X509)
#define PEM_write_bio_PrivateKey (ssl_api.PEM_write_bio_PrivateKey)
#define RAND_bytes (ssl_api.RAND_bytes)
#endif

#endif
