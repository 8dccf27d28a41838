/* mapguard.c: the SIGBUS handler and the table of guarded mappings
 * (mapguard.h). The table is plain static memory, written by the program
 * and read by the handler; the handler uses only mmap, sigaction and
 * stores into the table. */
#include "mapguard.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

struct guard {
	uintptr_t base;
	size_t len;
	volatile sig_atomic_t used, hit;
};

static struct guard guards[MAPGUARD_MAX];

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	uintptr_t addr = (uintptr_t)info->si_addr;
	struct sigaction dfl;

	(void)uctx;
	for (size_t i = 0; i < MAPGUARD_MAX; i++) {
		struct guard *g = &guards[i];

		if (!g->used || addr < g->base || addr - g->base >= g->len)
			continue;
		if (mmap((void *)g->base, g->len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != MAP_FAILED) {
			g->hit = 1;
			return; /* the access is retried and reads zeros */
		}
		break;
	}
	/* not ours (or the remap failed): die as without the handler */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

/* install: our handler, unless it is in place (something may have set
 * another since, or reset it after a fault outside every guard). */
static bool install(void)
{
	struct sigaction sa, old;

	if (sigaction(SIGBUS, NULL, &old) == 0 && (old.sa_flags & SA_SIGINFO) &&
	    old.sa_sigaction == on_sigbus)
		return true;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) == 0;
}

int mapguard_add(const void *p, size_t len)
{
	if (p == NULL || len == 0 || !install())
		return -1;
	for (int i = 0; i < MAPGUARD_MAX; i++) {
		struct guard *g = &guards[i];

		if (g->used)
			continue;
		g->base = (uintptr_t)p;
		g->len = len;
		g->hit = 0;
		g->used = 1;
		return i;
	}
	return -1;
}

bool mapguard_hit(int slot)
{
	return slot >= 0 && slot < MAPGUARD_MAX && guards[slot].used && guards[slot].hit;
}

void mapguard_remove(int slot)
{
	if (slot < 0 || slot >= MAPGUARD_MAX)
		return;
	guards[slot].used = 0;
	guards[slot].hit = 0;
}
