/* authfail.c: the per-address table of failed logins (authfail.h).
 * A linear array: lookups happen only on AUTH and its failures, and the
 * table is small (hundreds of slots), so a scan costs less than hashing
 * would save. A slot's window starts at its address's first failure;
 * after window_ms the count starts again from zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authfail.h"
#include "mem.h"

/* Client addresses are our own inet_ntop text: at most 45 bytes. */
#define AUTHFAIL_IP_MAX 64

struct authfail_slot {
	char ip[AUTHFAIL_IP_MAX]; /* "" = free */
	unsigned count;
	uint64_t first_ms, last_ms;
};

struct authfail {
	struct authfail_slot *slots;
	size_t nslots;
	unsigned limit;
	uint64_t window_ms, base_delay_ms;
};

authfail *authfail_new(size_t slots, unsigned limit, uint64_t window_ms,
		       uint64_t base_delay_ms)
{
	authfail *a = xcalloc(1, sizeof(*a));

	a->nslots = slots > 0 ? slots : 1;
	a->slots = xcalloc(a->nslots, sizeof(*a->slots));
	a->limit = limit > 0 ? limit : 1;
	a->window_ms = window_ms;
	a->base_delay_ms = base_delay_ms;
	return a;
}

void authfail_free(authfail **ap)
{
	if (*ap == NULL)
		return;
	free((*ap)->slots);
	free(*ap);
	*ap = NULL;
}

static bool slot_live(const authfail *a, const struct authfail_slot *slot, uint64_t now_ms)
{
	return slot->ip[0] != '\0' && now_ms - slot->first_ms < a->window_ms;
}

static struct authfail_slot *find(authfail *a, const char *ip, uint64_t now_ms)
{
	for (size_t i = 0; i < a->nslots; i++) {
		struct authfail_slot *slot = &a->slots[i];
		if (slot_live(a, slot, now_ms) && strcmp(slot->ip, ip) == 0)
			return slot;
	}
	return NULL;
}

/* take_slot: a free or expired slot, else the least recently used one. */
static struct authfail_slot *take_slot(authfail *a, const char *ip, uint64_t now_ms)
{
	struct authfail_slot *victim = &a->slots[0];

	for (size_t i = 0; i < a->nslots; i++) {
		struct authfail_slot *slot = &a->slots[i];
		if (!slot_live(a, slot, now_ms)) {
			victim = slot;
			break;
		}
		if (slot->last_ms < victim->last_ms)
			victim = slot;
	}
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->ip, sizeof(victim->ip), "%s", ip);
	victim->first_ms = now_ms;
	return victim;
}

bool authfail_blocked(authfail *a, const char *ip, uint64_t now_ms)
{
	const struct authfail_slot *slot = find(a, ip, now_ms);

	return slot != NULL && slot->count >= a->limit;
}

unsigned authfail_count(authfail *a, const char *ip, uint64_t now_ms)
{
	const struct authfail_slot *slot = find(a, ip, now_ms);

	return slot != NULL ? slot->count : 0;
}

uint64_t authfail_record(authfail *a, const char *ip, uint64_t now_ms, bool *cut_r)
{
	struct authfail_slot *slot = find(a, ip, now_ms);
	uint64_t delay = a->base_delay_ms;

	if (slot == NULL)
		slot = take_slot(a, ip, now_ms);
	slot->count++;
	slot->last_ms = now_ms;
	*cut_r = slot->count >= a->limit;
	for (unsigned i = 1; i < slot->count && delay < AUTHFAIL_MAX_FACTOR * a->base_delay_ms; i++)
		delay *= 2;
	if (delay > AUTHFAIL_MAX_FACTOR * a->base_delay_ms)
		delay = AUTHFAIL_MAX_FACTOR * a->base_delay_ms;
	return delay;
}
