#include "paw.h"

extern void pawLog(int level, char *text);

static int paw_log_min = GGML_LOG_LEVEL_WARN;
static int paw_log_last = GGML_LOG_LEVEL_INFO;

static void paw_log_cb(enum ggml_log_level level, const char *text, void *ud) {
	(void)ud;
	if (level == GGML_LOG_LEVEL_CONT) {
		level = paw_log_last;
	} else {
		paw_log_last = level;
	}
	if ((int)level >= paw_log_min) {
		pawLog((int)level, (char *)text);
	}
}

void paw_log_install(int min_level) {
	paw_log_min = min_level;
	llama_log_set(paw_log_cb, NULL);
}

bool paw_abort_cb(void *flag) {
	return __atomic_load_n((int *)flag, __ATOMIC_RELAXED) != 0;
}
