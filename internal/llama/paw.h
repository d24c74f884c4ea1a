// C helpers for the Go binding (paw's own code; llama.h comes from the ollama module).
#pragma once
#include <stdbool.h>
#include "llama.h"

void paw_log_install(int min_level);
// paw_abort_cb reads an int flag owned by the context; nonzero aborts the decode.
bool paw_abort_cb(void *flag);
