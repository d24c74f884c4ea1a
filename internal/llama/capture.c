#include "capture.h"

#include <stdio.h>
#include <string.h>

#include "ggml-backend.h"

// wanted returns the index in c->layers of the layer t is the l_out of, or -1.
static int wanted(const paw_capture *c, const struct ggml_tensor *t) {
	int il;
	char tail;
	if (strncmp(t->name, "l_out-", 6) != 0 || sscanf(t->name + 6, "%d%c", &il, &tail) != 1) {
		return -1;
	}
	for (int i = 0; i < c->n_layers; i++) {
		if (c->layers[i] == il) {
			return i;
		}
	}
	return -1;
}

bool paw_capture_cb(struct ggml_tensor *t, bool ask, void *user_data) {
	paw_capture *c = (paw_capture *)user_data;
	int i = wanted(c, t);
	if (ask) {
		return i >= 0;
	}
	if (i < 0) {
		return true;
	}
	if (t->type != GGML_TYPE_F32 || t->ne[0] != c->n_embd || t->ne[1] < c->n_last || t->ne[2] != 1 ||
	    !ggml_is_contiguous(t)) {
		c->err = 1;
		return false; // stops the decode
	}
	size_t row = t->nb[1];
	ggml_backend_tensor_get(t, c->out + (size_t)i * c->n_last * c->n_embd, (size_t)(t->ne[1] - c->n_last) * row,
	                        (size_t)c->n_last * row);
	c->got[i] = 1;
	return true;
}
