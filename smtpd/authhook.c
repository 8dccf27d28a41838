/* authhook.c: the list of checks that judge the SPF and DKIM verdicts
 * together (authhook.h). Each hook is a struct smtpd_auth_hook in a file
 * of its own, listed before the NULL: ARC (arc.c), DMARC (dmarc.c). At most
 * SMTPD_AUTH_HOOKS_MAX hooks. */
#include "authhook.h"

extern const struct smtpd_auth_hook smtpd_arc_hook;
extern const struct smtpd_auth_hook smtpd_dmarc_hook;

const struct smtpd_auth_hook *const smtpd_auth_hooks[] = {
	&smtpd_arc_hook,
	&smtpd_dmarc_hook,
	NULL,
};
