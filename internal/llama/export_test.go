package llama

var Int8Peak = int8Peak

// SetAutodiffOnly switches t between ggml's autodiff for every op and the
// rewritten backward pass.
func SetAutodiffOnly(t *Trainer, on bool) { t.setAutodiffOnly(on) }
