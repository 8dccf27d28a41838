/* authhook.c: the list of checks that judge the SPF and DKIM verdicts
 * together (authhook.h). Empty for now: DMARC (lib/dmarc) adds its hook
 * here, a struct smtpd_auth_hook in a file of its own, listed before the
 * NULL. At most SMTPD_AUTH_HOOKS_MAX hooks. */
#include "authhook.h"

const struct smtpd_auth_hook *const smtpd_auth_hooks[] = {
	NULL,
};
