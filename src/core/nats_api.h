/* nats_api.h - libnats (nats.c, the NATS and JetStream client) through
 * dlopen, like libpcap (pcap_api.h): linked, it would pull libssl,
 * libcrypto and libprotobuf-c into every exec, inetd children's too,
 * although only serve --nats and the collect command use it. Include this
 * instead of <nats/nats.h>: each function used is #defined to its entry in
 * a table nats_api_load fills, so call sites keep their names. A function
 * that is not in the table does not link (no -lnats): add it to both lists
 * below. */
#ifndef FLYPAPER_NATS_API_H
#define FLYPAPER_NATS_API_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>

/* Every libnats function flypaper calls. */
#define NATS_API_FUNCTIONS(X) \
	X(natsOptions_Create) \
	X(natsOptions_Destroy) \
	X(natsOptions_SetURL) \
	X(natsOptions_SetServers) \
	X(natsOptions_SetName) \
	X(natsOptions_SetUserCredentialsFromFiles) \
	X(natsOptions_LoadCATrustedCertificates) \
	X(natsOptions_SetCATrustedCertificates) \
	X(natsOptions_SetSecure) \
	X(natsOptions_SetTimeout) \
	X(natsOptions_SetMaxReconnect) \
	X(natsOptions_SetReconnectWait) \
	X(natsOptions_SetReconnectBufSize) \
	X(natsOptions_SetRetryOnFailedConnect) \
	X(natsOptions_SetExpectedHostname) \
	X(natsOptions_SetIgnoreDiscoveredServers) \
	X(natsConnection_Connect) \
	X(natsConnection_Close) \
	X(natsConnection_Destroy) \
	X(natsConnection_GetMaxPayload) \
	X(natsConnection_Status) \
	X(natsConnection_JetStream) \
	X(jsCtx_Destroy) \
	X(jsPubOptions_Init) \
	X(js_PublishMsg) \
	X(jsPubAck_Destroy) \
	X(jsStreamConfig_Init) \
	X(js_AddStream) \
	X(js_GetStreamInfo) \
	X(jsStreamInfo_Destroy) \
	X(jsSubOptions_Init) \
	X(js_PullSubscribe) \
	X(natsSubscription_Fetch) \
	X(natsSubscription_Destroy) \
	X(natsMsgList_Destroy) \
	X(natsMsg_Create) \
	X(natsMsg_Destroy) \
	X(natsMsg_GetData) \
	X(natsMsg_GetDataLength) \
	X(natsMsg_AckSync) \
	X(natsMsg_Term) \
	X(natsMsg_GetSubject) \
	X(jsFetchRequest_Init) \
	X(natsSubscription_FetchRequest) \
	X(natsMsgHeader_Set) \
	X(natsMsgHeader_Get) \
	X(nats_GetLastError) \
	X(natsStatus_GetText) \
	X(nats_Close)

/* The table: one pointer per function, typed from <nats/nats.h>'s own
 * prototypes. */
struct nats_api {
#define NATS_API_FIELD(name) __typeof__(&name) name;
	NATS_API_FUNCTIONS(NATS_API_FIELD)
#undef NATS_API_FIELD
};

extern struct nats_api nats_api;

/* Loads libnats from the absolute path of its soname found at build time
 * (FLYPAPER_LIBNATS), once per process: as root, before the privilege
 * drop and confinement, which forbid mapping code. The file and every
 * folder above it must be root's and writable by no one else
 * (dlib_trusted). Returns 0, or -1 with a message naming the file and the
 * package to install (libnats3.4) in err. */
int nats_api_load(char *err, size_t errlen);

/* True once nats_api_load succeeded. */
bool nats_api_loaded(void);

/* Most servers a --nats list may name. */
#define NATS_API_MAX_SERVERS 16

/* Gives opts the servers of urls, a ','-separated list (natsOptions_SetURL
 * takes one). Returns NATS_OK, or NATS_INVALID_ARG for an empty entry or
 * more than NATS_API_MAX_SERVERS. */
natsStatus nats_api_set_servers(natsOptions *opts, const char *urls);

/* One server of a --nats list, taken apart: [scheme://][user[:pw]@]host[:port]
 * with an IPv6 host in brackets. */
struct nats_url {
	char scheme[16];             /* "nats", "tls", ...; "nats" when none */
	char userinfo[256];          /* "user:pw", "token" or "" */
	char host[256];              /* without the brackets */
	char port[8];                /* "4222" when none */
};

/* Splits url (one entry, no ','). Pure: no lookup. Returns 0, or -1 with
 * a reason in err (an empty host, a bad port, a path, a missing ']'). */
int nats_api_url_split(const char *url, struct nats_url *out, char *err, size_t errlen);

/* A status as words: the library's last error when it has one. */
/* urls (comma-separated) for a log line, with the user and password of
 * each written as three stars (user:secret@host:4222 becomes ***@host:4222,
 * the scheme kept). out is always ended; a list too long for it is cut. */
void nats_api_redact(const char *urls, char *out, size_t len);

const char *nats_api_error(natsStatus s);

#ifndef NATS_API_TABLE
#define natsOptions_Create (nats_api.natsOptions_Create)
#define natsOptions_Destroy (nats_api.natsOptions_Destroy)
#define natsOptions_SetURL (nats_api.natsOptions_SetURL)
#define natsOptions_SetServers (nats_api.natsOptions_SetServers)
#define natsOptions_SetName (nats_api.natsOptions_SetName)
#define natsOptions_SetUserCredentialsFromFiles (nats_api.natsOptions_SetUserCredentialsFromFiles)
#define natsOptions_LoadCATrustedCertificates (nats_api.natsOptions_LoadCATrustedCertificates)
#define natsOptions_SetCATrustedCertificates (nats_api.natsOptions_SetCATrustedCertificates)
#define natsOptions_SetSecure (nats_api.natsOptions_SetSecure)
#define natsOptions_SetTimeout (nats_api.natsOptions_SetTimeout)
#define natsOptions_SetMaxReconnect (nats_api.natsOptions_SetMaxReconnect)
#define natsOptions_SetReconnectWait (nats_api.natsOptions_SetReconnectWait)
#define natsOptions_SetReconnectBufSize (nats_api.natsOptions_SetReconnectBufSize)
#define natsOptions_SetRetryOnFailedConnect (nats_api.natsOptions_SetRetryOnFailedConnect)
#define natsOptions_SetExpectedHostname (nats_api.natsOptions_SetExpectedHostname)
#define natsOptions_SetIgnoreDiscoveredServers (nats_api.natsOptions_SetIgnoreDiscoveredServers)
#define natsConnection_Connect (nats_api.natsConnection_Connect)
#define natsConnection_Close (nats_api.natsConnection_Close)
#define natsConnection_Destroy (nats_api.natsConnection_Destroy)
#define natsConnection_GetMaxPayload (nats_api.natsConnection_GetMaxPayload)
#define natsConnection_Status (nats_api.natsConnection_Status)
#define natsConnection_JetStream (nats_api.natsConnection_JetStream)
#define jsCtx_Destroy (nats_api.jsCtx_Destroy)
#define jsPubOptions_Init (nats_api.jsPubOptions_Init)
#define js_PublishMsg (nats_api.js_PublishMsg)
#define jsPubAck_Destroy (nats_api.jsPubAck_Destroy)
#define jsStreamConfig_Init (nats_api.jsStreamConfig_Init)
#define js_AddStream (nats_api.js_AddStream)
#define js_GetStreamInfo (nats_api.js_GetStreamInfo)
#define jsStreamInfo_Destroy (nats_api.jsStreamInfo_Destroy)
#define jsSubOptions_Init (nats_api.jsSubOptions_Init)
#define js_PullSubscribe (nats_api.js_PullSubscribe)
#define natsSubscription_Fetch (nats_api.natsSubscription_Fetch)
#define natsSubscription_Destroy (nats_api.natsSubscription_Destroy)
#define natsMsgList_Destroy (nats_api.natsMsgList_Destroy)
#define natsMsg_Create (nats_api.natsMsg_Create)
#define natsMsg_Destroy (nats_api.natsMsg_Destroy)
#define natsMsg_GetData (nats_api.natsMsg_GetData)
#define natsMsg_GetDataLength (nats_api.natsMsg_GetDataLength)
#define natsMsg_AckSync (nats_api.natsMsg_AckSync)
#define natsMsg_Term (nats_api.natsMsg_Term)
#define natsMsg_GetSubject (nats_api.natsMsg_GetSubject)
#define jsFetchRequest_Init (nats_api.jsFetchRequest_Init)
#define natsSubscription_FetchRequest (nats_api.natsSubscription_FetchRequest)
#define natsMsgHeader_Set (nats_api.natsMsgHeader_Set)
#define natsMsgHeader_Get (nats_api.natsMsgHeader_Get)
#define nats_GetLastError (nats_api.nats_GetLastError)
#define natsStatus_GetText (nats_api.natsStatus_GetText)
#define nats_Close (nats_api.nats_Close)
#endif

#endif
