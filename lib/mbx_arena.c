/* mbx_arena.c: the string arena of the mbx module. A folder's file names,
 * bases, keywords and uidlist exts are many small strings that all die
 * together (with the mbx, or with one pass over the folder), so they are
 * cut from blocks (2 KiB first, doubling up to 64 KiB) and freed block by
 * block instead of one by one.
 * Nothing here knows about Maildir. */
#include "mbx_int.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define MBX_ARENA_FIRST 2048
#define MBX_ARENA_BLOCK 65536

struct mbx_arena {
	struct mbx_arena *next;
	size_t used, size;
	char data[];
};

char *mbx_arena_alloc(struct mbx_arena **ar, size_t len)
{
	struct mbx_arena *a = *ar;
	char *p;

	if (a == NULL || a->size - a->used < len) {
		/* blocks grow from MBX_ARENA_FIRST to MBX_ARENA_BLOCK, so the
		 * many small folders an imapd process keeps open stay small */
		size_t size = a == NULL ? MBX_ARENA_FIRST : a->size * 2;

		if (size > MBX_ARENA_BLOCK)
			size = MBX_ARENA_BLOCK;
		if (size < len)
			size = len;

		a = xmalloc(sizeof(*a) + size);
		a->used = 0;
		a->size = size;
		a->next = *ar;
		*ar = a;
	}
	p = a->data + a->used;
	a->used += len;
	return p;
}

void mbx_arena_free(struct mbx_arena **ar)
{
	while (*ar != NULL) {
		struct mbx_arena *next = (*ar)->next;

		free(*ar);
		*ar = next;
	}
}
