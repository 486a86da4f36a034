/* list.h - an intrusive doubly linked list, for the timeout orders. */
#ifndef FLYPAPER_LIST_H
#define FLYPAPER_LIST_H

#include <stddef.h>

struct list_link {
	struct list_link *prev, *next;
};

/* A list is a sentinel link pointing at itself when empty. */
static inline void list_init(struct list_link *head)
{
	head->prev = head->next = head;
}

static inline int list_empty(const struct list_link *head)
{
	return head->next == head;
}

static inline void list_append(struct list_link *head, struct list_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* Unlinks l; safe to call twice (an unlinked link points at itself). */
static inline void list_remove(struct list_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

#define list_entry(link, type, member) \
	((type *)(void *)((char *)(link) - offsetof(type, member)))

#endif
