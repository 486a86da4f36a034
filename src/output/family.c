/* family.c - the family precedence: worm > botnet > tool > research >
 * exploit > crawler > probe; ties go to the first rule in compile order.
 * docs/DESIGN.md, "Families", says why. */
#include "family.h"

#include <string.h>

static const struct {
	const char *word;
	enum family_kind kind;
} family_kinds[] = {
	{"worm", FAMILY_KIND_WORM},
	{"botnet", FAMILY_KIND_BOTNET},
	{"tool", FAMILY_KIND_TOOL},
	{"scanner", FAMILY_KIND_TOOL},   /* the second tag of older rules */
	{"research", FAMILY_KIND_RESEARCH},
	{"exploit", FAMILY_KIND_EXPLOIT},
	{"crawler", FAMILY_KIND_CRAWLER},
	{"probe", FAMILY_KIND_PROBE},
};

enum family_kind family_kind_of(const char *word)
{
	for (size_t i = 0; word && i < sizeof(family_kinds) / sizeof(family_kinds[0]); i++)
		if (strcmp(word, family_kinds[i].word) == 0)
			return family_kinds[i].kind;
	return FAMILY_KIND_PROBE;
}

size_t family_name_clean(const char *name, char *out, size_t outlen)
{
	size_t n = 0;

	for (; name && *name && n + 1 < outlen; name++) {
		char ch = *name;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		else if (ch == '_')
			ch = '-';
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')
			out[n++] = ch;
	}
	out[n] = '\0';
	return n;
}

void family_pick_offer(struct family_pick *p, const char *name, enum family_kind kind)
{
	char clean[FAMILY_NAME_MAX];

	if (kind == FAMILY_KIND_NONE || kind <= p->kind)
		return;
	if (family_name_clean(name, clean, sizeof(clean)) == 0)
		return;
	memcpy(p->name, clean, sizeof(clean));
	p->kind = kind;
}
