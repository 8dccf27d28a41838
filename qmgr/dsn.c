/* dsn.c: the text of delivery status notifications (RFC 3464, in an RFC
 * 6522 multipart/report): a human-readable part, the machine-readable
 * message/delivery-status part and the returned message or its headers.
 * Three kinds: failure (bounce), delay warning and success report; a
 * double bounce is a failure report marked as the postmaster's copy.
 * Built into a buf in two pieces (head, tail) around the returned content,
 * which the caller streams from the queue file. Pure text work: no I/O. */
#include "logic.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* put_clean: text from a peer or a map, with control characters (CR, LF,
 * ...) turned into spaces so it stays on its line. */
static void put_clean(buf *out, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
		buf_putc(out, *p < 0x20 || *p == 0x7f ? ' ' : *p);
}

static void put_date(buf *out, time_t when)
{
	char text[64];
	struct tm tm;

	if (localtime_r(&when, &tm) == NULL ||
	    strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strcpy(text, "Thu, 01 Jan 1970 00:00:00 +0000");
	buf_puts(out, text);
}

static const char *subject_of(const struct qmgr_dsn *d)
{
	switch (d->kind) {
	case QMGR_DSN_DELAY:
		return "Delayed Mail (still being retried)";
	case QMGR_DSN_SUCCESS:
		return "Successful Mail Delivery Report";
	default:
		return "Undelivered Mail Returned to Sender";
	}
}

static void put_headers(buf *out, const struct qmgr_dsn *d)
{
	buf_puts(out, "From: MAILER-DAEMON@");
	put_clean(out, d->hostname);
	buf_puts(out, " (Mail Delivery System)\nTo: <");
	put_clean(out, d->sender);
	buf_printf(out, ">\nSubject: %s%s\nDate: ", d->postmaster_copy ? "Postmaster Copy: " : "",
		   subject_of(d));
	put_date(out, d->now);
	buf_puts(out, "\nMessage-ID: <");
	put_clean(out, d->boundary);
	buf_puts(out, ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
		      "Content-Type: multipart/report; report-type=delivery-status;\n"
		      "\tboundary=\"");
	put_clean(out, d->boundary);
	buf_puts(out, "\"\nContent-Transfer-Encoding: 8bit\n\n"
		      "This is a MIME-encapsulated message.\n\n");
}

static void put_part_start(buf *out, const struct qmgr_dsn *d, const char *description,
			   const char *type)
{
	buf_puts(out, "--");
	put_clean(out, d->boundary);
	buf_printf(out, "\nContent-Description: %s\nContent-Type: %s\n\n", description, type);
}

/* put_intro: what the human-readable part says before the recipients. */
static void put_intro(buf *out, const struct qmgr_dsn *d)
{
	switch (d->kind) {
	case QMGR_DSN_DELAY:
		buf_puts(out, ".\n\n####### THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND "
			      "YOUR MESSAGE. #######\n\n"
			      "Your message could not be delivered yet to the recipients\n"
			      "listed below. The mail system keeps trying until the time\n"
			      "given for each of them (Will-Retry-Until in the delivery\n"
			      "report); you will be told if it gives up. Its headers are\n"
			      "attached below.\n\n");
		break;
	case QMGR_DSN_SUCCESS:
		buf_puts(out, ".\n\nYour message was delivered to the recipients listed below.\n"
			      "Delivered to a mailbox here means delivered for good;\n"
			      "relayed means handed to a server that does not report back,\n"
			      "so you may still hear of a failure from other systems. Its\n"
			      "headers are attached.\n\n");
		break;
	default:
		buf_puts(out, ".\n\nI'm sorry to have to inform you that your message could not\n"
			      "be delivered to one or more recipients. It's attached below.\n\n");
	}
	buf_puts(out, "For further assistance, please send mail to postmaster.\n\n"
		      "                   The mail system\n\n");
}

static void put_text_part(buf *out, const struct qmgr_dsn *d)
{
	put_part_start(out, d, "Notification", "text/plain; charset=utf-8");
	buf_puts(out, "This is the mail system at host ");
	put_clean(out, d->hostname);
	put_intro(out, d);
	for (int i = 0; i < d->nrcpts; i++) {
		buf_puts(out, "<");
		put_clean(out, d->rcpts[i].address);
		buf_puts(out, ">: ");
		put_clean(out, d->rcpts[i].reason);
		buf_puts(out, "\n");
	}
	buf_puts(out, "\n");
}

static void put_rcpt_status(buf *out, const struct qmgr_dsn_rcpt *r)
{
	buf_puts(out, "\nFinal-Recipient: rfc822; ");
	put_clean(out, r->address);
	if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL) {
		buf_puts(out, "\nOriginal-Recipient: ");
		put_clean(out, r->orcpt);
	}
	buf_puts(out, "\nAction: ");
	put_clean(out, r->action);
	buf_puts(out, "\nStatus: ");
	put_clean(out, r->status);
	buf_puts(out, "\nDiagnostic-Code: X-Postern; ");
	put_clean(out, r->reason);
	if (r->retry_until != 0) {
		buf_puts(out, "\nWill-Retry-Until: ");
		put_date(out, r->retry_until);
	}
	buf_puts(out, "\n");
}

static void put_status_part(buf *out, const struct qmgr_dsn *d)
{
	put_part_start(out, d, "Delivery report", "message/delivery-status");
	buf_puts(out, "Reporting-MTA: dns; ");
	put_clean(out, d->hostname);
	buf_puts(out, "\nX-Postern-Queue-ID: ");
	put_clean(out, d->queue_id);
	if (d->envid != NULL) {
		buf_puts(out, "\nOriginal-Envelope-Id: ");
		put_clean(out, d->envid);
	}
	buf_puts(out, "\nArrival-Date: ");
	put_date(out, d->arrival);
	buf_puts(out, "\n");
	for (int i = 0; i < d->nrcpts; i++)
		put_rcpt_status(out, &d->rcpts[i]);
	buf_puts(out, "\n");
}

/* put_returned_start: the part header of the returned message. */
static void put_returned_start(buf *out, const struct qmgr_dsn *d)
{
	const char *what = d->kind == QMGR_DSN_DELAY	  ? "Delayed Message"
			   : d->kind == QMGR_DSN_SUCCESS ? "Delivered Message"
							 : "Undelivered Message";
	char *description = xasprintf("%s%s", what, d->full ? "" : " Headers");

	put_part_start(out, d, description, d->full ? "message/rfc822" : "text/rfc822-headers");
	free(description);
}

void qmgr_dsn_head(buf *out, const struct qmgr_dsn *d)
{
	put_headers(out, d);
	put_text_part(out, d);
	put_status_part(out, d);
	put_returned_start(out, d);
}

void qmgr_dsn_tail(buf *out, const struct qmgr_dsn *d, int last_byte)
{
	if (last_byte != '\n')
		buf_puts(out, "\n");
	buf_puts(out, "\n--");
	put_clean(out, d->boundary);
	buf_puts(out, "--\n");
}

size_t qmgr_dsn_headers_len(const char *content, size_t len)
{
	if (len > 0 && content[0] == '\n')
		return 1; /* no headers at all: just the separator */
	for (size_t i = 0; i + 1 < len; i++)
		if (content[i] == '\n' && content[i + 1] == '\n')
			return i + 2;
	return len;
}
