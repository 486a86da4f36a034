/* strategy_banner.c - speaks first: --banner-text right after accept, as an
 * FTP, SMTP or SSH server would. */
#include "strategy.h"

#include <string.h>

#include "session.h"

static int strategy_banner_setup(struct strategy *st, const struct config *cfg,
    char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	st->data = cfg->banner_text;     /* the configuration outlives the run */
	return 0;
}

static void strategy_banner_greet(struct session *s, const struct strategy *st,
    uint64_t now_ns)
{
	const char *text = st->data;

	(void)now_ns;
	session_send(s, text, strlen(text), false);
}

const struct strategy_ops strategy_banner = {
	.name = "banner",
	.setup = strategy_banner_setup,
	.greet = strategy_banner_greet,
};
