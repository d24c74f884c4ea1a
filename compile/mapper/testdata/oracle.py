# Test oracle (PyTorch): writes a small lora_mapper.pt in the layout of the
# official checkpoint, random encoder states, and torch's mapper output.
# Usage: oracle.py OUTDIR ARCH HIDDEN LAYERS BASES RANK ROWS
import json, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

out, arch = sys.argv[1], sys.argv[2]
hidden, layers, bases, rank, rows = map(int, sys.argv[3:8])
torch.manual_seed(7)
if arch == "qwen3-tiny":
    # internal/fixture's qwen3-tiny (embd 64, q 64, kv 32, ffn 128)
    mods = {"q_proj": (64, 64), "k_proj": (64, 32), "v_proj": (64, 32), "o_proj": (64, 64),
            "gate_proj": (64, 128), "up_proj": (64, 128), "down_proj": (128, 64)}
elif arch == "qwen3-0.6b":
    # the official interpreter (for full-shape timing)
    mods = {"q_proj": (1024, 2048), "k_proj": (1024, 1024), "v_proj": (1024, 1024), "o_proj": (2048, 1024),
            "gate_proj": (1024, 3072), "up_proj": (1024, 3072), "down_proj": (3072, 1024)}
elif arch == "qwen3":
    # d_in, d_out of each module in a small Qwen3 (embd 64, q 128, kv 64, ffn 96)
    mods = {"q_proj": (64, 128), "k_proj": (64, 64), "v_proj": (64, 64), "o_proj": (128, 64),
            "gate_proj": (64, 96), "up_proj": (64, 96), "down_proj": (96, 64)}
else:
    mods = {"c_attn": (64, 192), "attn_c_proj": (64, 64), "c_fc": (64, 256), "mlp_c_proj": (256, 64)}
names = sorted(mods)


class Mapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU())
        self.coeff_head = nn.Linear(hidden, layers * len(names) * bases * 2)
        for m in names:
            din, dout = mods[m]
            setattr(self, "A_bases_" + m, nn.Parameter(torch.randn(bases, rank, din) * 0.1))
            setattr(self, "B_bases_" + m, nn.Parameter(torch.randn(bases, dout, rank) * 0.1))

    def forward(self, states):
        c = self.coeff_head(self.trunk(states.mean(dim=(0, 1))))
        c = c.view(layers, len(names), bases, 2)
        res = []
        for i, m in enumerate(names):
            a = torch.einsum("ln,nri->lri", c[:, i, :, 0], getattr(self, "A_bases_" + m))
            b = torch.einsum("ln,nor->lor", c[:, i, :, 1], getattr(self, "B_bases_" + m))
            res += [a.reshape(-1), b.reshape(-1)]
        return c.reshape(-1), torch.cat(res)


mapper = Mapper()
with torch.no_grad():
    # coefficients of a useful size, not lost in the bases' noise
    mapper.coeff_head.weight.mul_(4)
    states = torch.randn(layers, rows, hidden) + 0.5
    coeff, weights = mapper(states)
os.makedirs(out, exist_ok=True)
torch.save(mapper.state_dict(), os.path.join(out, "lora_mapper.pt"))
states.numpy().astype("<f4").tofile(os.path.join(out, "states.bin"))
coeff.numpy().astype("<f4").tofile(os.path.join(out, "coeff.bin"))
weights.numpy().astype("<f4").tofile(os.path.join(out, "weights.bin"))
with open(os.path.join(out, "meta.json"), "w") as f:
    json.dump({"interpreter": "gpt2" if arch == "gpt2" else "Qwen/Qwen3-0.6B", "lora_rank": rank,
               "lora_alpha": 16, "lora_num_bases": bases, "prefix_steps": rows}, f)
# A checkpoint the reader must refuse: an fp16 tensor.
torch.save({"trunk.0.weight": torch.zeros(2, 2, dtype=torch.float16)}, os.path.join(out, "half.pt"))
