/* family.h - one family per session: the precedence between the families
 * of the rules that matched, and the names they may carry. */
#ifndef FLYPAPER_FAMILY_H
#define FLYPAPER_FAMILY_H

#include <stddef.h>

#define FAMILY_NAME_MAX 32           /* bytes of a family name, NUL included */

/* What a family is, from the rule's meta kind (or its second tag). A
 * higher kind wins: the worm or the tool that sent a request says more
 * than the exploit it tries, which says more than a crawler or a probe
 * any client can make. FAMILY_KIND_NONE names no family. */
enum family_kind {
	FAMILY_KIND_NONE = 0,
	FAMILY_KIND_PROBE,           /* secrets, or an unknown kind */
	FAMILY_KIND_CRAWLER,         /* spider: cheap to claim */
	FAMILY_KIND_EXPLOIT,         /* log4shell, struts2, ... */
	FAMILY_KIND_RESEARCH,        /* research scanners that say so */
	FAMILY_KIND_TOOL,            /* nikto, sqlmap, nmap, ... */
	FAMILY_KIND_BOTNET,          /* mirai */
	FAMILY_KIND_WORM,            /* codered, nimda: whole signature only */
};

/* The kind a word names: "worm", "botnet", "tool" (or "scanner"),
 * "research", "exploit", "crawler", "probe". NULL, "" or any other word is
 * FAMILY_KIND_PROBE: a rule that names a family always names one. */
enum family_kind family_kind_of(const char *word);

/* Copies name into out (outlen bytes, at least 1) as a family name:
 * lowercase ASCII letters, digits and '-', '_' turned into '-', any other
 * byte dropped, cut to outlen - 1 bytes. Returns the length written. */
size_t family_name_clean(const char *name, char *out, size_t outlen);

/* The family chosen so far among a payload's matches. Start zeroed. */
struct family_pick {
	enum family_kind kind;       /* of the family held; NONE: none yet */
	char name[FAMILY_NAME_MAX];
};

/* Offers a matched rule's family (cleaned here) of kind: it replaces the
 * one held only when its kind is strictly higher, so among equals the
 * first offered, the first rule in compile order, stays. An empty name
 * or FAMILY_KIND_NONE is ignored. */
void family_pick_offer(struct family_pick *p, const char *name, enum family_kind kind);

#endif
