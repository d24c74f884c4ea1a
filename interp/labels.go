package interp

import (
	"errors"
	"fmt"
	"math"

	"github.com/paw-dev/paw/internal/llama"
)

// MaxLabels bounds a label set: each label scores in its own sequence.
const MaxLabels = 64

// ErrLabels reports a label set the engine cannot score.
var ErrLabels = errors.New("interp: invalid label set")

// trieNode is one token of one or more labels' tokenizations; labels sharing
// a prefix share its nodes, so each prefix is decoded once.
type trieNode struct {
	tok    llama.Token
	parent int   // index of the parent node, -1 for a first token
	depth  int   // 0 for first tokens
	seqs   []int // label indices through this node
	label  int   // label ending here, or -1
	kids   []int
}

// labelTrie scores a fixed set of labels after a prompt in one extra decode.
type labelTrie struct {
	labels []string
	toks   [][]llama.Token
	nodes  []trieNode
	// inner lists the nodes with children: the only ones whose logits are
	// needed (decoded in one batch); leaves need none.
	inner []int
}

func (t *tokenizer) labelTrie(labels []string) (*labelTrie, error) {
	if len(labels) == 0 || len(labels) > MaxLabels {
		return nil, fmt.Errorf("%w: %d labels (want 1 to %d)", ErrLabels, len(labels), MaxLabels)
	}
	tr := &labelTrie{labels: labels}
	seen := map[string]bool{}
	for li, l := range labels {
		if l == "" || seen[l] {
			return nil, fmt.Errorf("%w: empty or duplicate label %q", ErrLabels, l)
		}
		seen[l] = true
		// The label as the model would write it at the start of its answer.
		toks, err := t.plain(l)
		if err != nil {
			return nil, err
		}
		tr.toks = append(tr.toks, toks)
		parent := -1
		for d, tok := range toks {
			n := tr.child(parent, tok, d)
			tr.nodes[n].seqs = append(tr.nodes[n].seqs, li)
			parent = n
		}
		if tr.nodes[parent].label >= 0 {
			return nil, fmt.Errorf("%w: %q and %q tokenize the same", ErrLabels, labels[tr.nodes[parent].label], l)
		}
		tr.nodes[parent].label = li
	}
	for i, n := range tr.nodes {
		if len(n.kids) > 0 {
			tr.inner = append(tr.inner, i)
		}
	}
	return tr, nil
}

// child returns the node for tok under parent, adding it if new.
func (tr *labelTrie) child(parent int, tok llama.Token, depth int) int {
	for i := range tr.nodes {
		if n := &tr.nodes[i]; n.parent == parent && n.tok == tok {
			return i
		}
	}
	tr.nodes = append(tr.nodes, trieNode{tok: tok, parent: parent, depth: depth, label: -1})
	i := len(tr.nodes) - 1
	if parent >= 0 {
		tr.nodes[parent].kids = append(tr.nodes[parent].kids, i)
	}
	return i
}

// labelScores holds, per label, the summed log-probability of its tokens
// (and, for a label whose tokens begin another label, of ending there).
type labelScores struct {
	logp  []float64
	toklp [][]float64 // per label, per token
}

// score computes label log-probabilities from the prompt's last logits (root)
// and the logits after every internal node (nodeLogits(i) for node i).
//
// A label scores the sum of its tokens' log-probabilities. A label whose
// tokens begin another label ("pos" inside "pos|itive") also scores the
// probability of ending right after it; without that term the shorter label
// would always win. Leaves need no extra decode, so a set of single-token
// labels costs only the prompt's forward pass.
func (tr *labelTrie) score(root []float32, nodeLogits func(i int) []float32, eog []llama.Token) labelScores {
	rootLSE := logSumExp(root)
	nodeLP := make([]float64, len(tr.nodes)) // log p(node token | its context)
	endLP := make([]float64, len(tr.nodes))  // log p(end of output | through node i), prefix labels only
	for i, n := range tr.nodes {
		if n.parent < 0 {
			nodeLP[i] = float64(root[n.tok]) - rootLSE
		}
	}
	for _, i := range tr.inner {
		n := tr.nodes[i]
		row := nodeLogits(i)
		lse := logSumExp(row)
		for _, k := range n.kids {
			nodeLP[k] = float64(row[tr.nodes[k].tok]) - lse
		}
		if n.label >= 0 {
			endLP[i] = logSumEOG(row, eog) - lse
		}
	}
	s := labelScores{logp: make([]float64, len(tr.labels)), toklp: make([][]float64, len(tr.labels))}
	for i, n := range tr.nodes {
		if n.label < 0 {
			continue
		}
		lp := endLP[i]
		var per []float64
		for j := i; j >= 0; j = tr.nodes[j].parent {
			lp += nodeLP[j]
			per = append([]float64{nodeLP[j]}, per...)
		}
		s.logp[n.label], s.toklp[n.label] = lp, per
	}
	return s
}

// logSumEOG is log of the summed exp-logits of the end-of-generation tokens.
func logSumEOG(row []float32, eog []llama.Token) float64 {
	vals := make([]float32, len(eog))
	for i, t := range eog {
		vals[i] = row[t]
	}
	return logSumExp(vals)
}

// softmax normalises log-probabilities into probabilities summing to 1.
func softmax(logp []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range logp {
		m = max(m, v)
	}
	out := make([]float64, len(logp))
	var sum float64
	for i, v := range logp {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
