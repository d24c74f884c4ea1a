package llama

var Int8Peak = int8Peak
var AttentionNodes = attentionNodes
var MatmulNodes = matmulNodes

// SetAutodiffOnly switches t between ggml's autodiff for every op and the
// rewritten backward pass.
func SetAutodiffOnly(t *Trainer, on bool) { t.setAutodiffOnly(on) }

// OpTime is one row of a training profile.
type OpTime = opTime

// Profile starts or stops per-op timing on t; ProfileTimes reads it.
func Profile(t *Trainer, on bool)      { t.profile(on) }
func ProfileTimes(t *Trainer) []OpTime { return t.profileTimes() }
