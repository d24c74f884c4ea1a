package mapper

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// ErrCheckpoint reports a .pt file that is not a PyTorch zip checkpoint
// holding a plain state dict of contiguous fp32 tensors.
var ErrCheckpoint = errors.New("mapper: malformed checkpoint")

// Tensor is a dense row-major fp32 tensor.
type Tensor struct {
	Shape []int
	Data  []float32
}

// LoadCheckpoint reads the state dict of a PyTorch zip checkpoint
// (torch.save of a state_dict: fp32 tensors only).
func LoadCheckpoint(file string) (map[string]Tensor, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	sd, err := ReadCheckpoint(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", file, err)
	}
	return sd, nil
}

// ReadCheckpoint reads a PyTorch zip checkpoint from r. gopickle's own
// loader is not used because it allocates each storage at the size the
// pickle claims before reading it; here a storage's size is checked against
// its zip record first, so a hostile file cannot ask for unbounded memory.
func ReadCheckpoint(r io.ReaderAt, size int64) (map[string]Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: not a zip archive: %w", ErrCheckpoint, err)
	}
	records := map[string]*zip.File{}
	var data *zip.File
	for _, f := range zr.File {
		// Records are "<archive>/data.pkl" and "<archive>/data/<key>".
		dir, name := path.Split(f.Name)
		switch {
		case name == "data.pkl" && strings.Count(dir, "/") == 1:
			data = f
		case path.Base(path.Clean(dir)) == "data":
			records[name] = f
		}
	}
	if data == nil {
		return nil, fmt.Errorf("%w: no data.pkl (not a zip checkpoint of torch >= 1.6)", ErrCheckpoint)
	}
	pkl, err := data.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: data.pkl: %w", ErrCheckpoint, err)
	}
	defer pkl.Close()

	storages := map[string]*pytorch.FloatStorage{}
	u := pickle.NewUnpickler(pkl)
	u.FindClass = func(module, name string) (any, error) {
		switch module + "." + name {
		case "torch._utils._rebuild_tensor_v2":
			return &pytorch.RebuildTensorV2{}, nil
		case "torch.FloatStorage":
			return &pytorch.FloatStorageClass{}, nil
		}
		return nil, fmt.Errorf("%w: class %s.%s (only fp32 tensors in a plain state dict)", ErrCheckpoint, module, name)
	}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("%w: persistent id %v", ErrCheckpoint, id)
		}
		kind, _ := t.Get(0).(string)
		_, isFloat := t.Get(1).(*pytorch.FloatStorageClass)
		key, _ := t.Get(2).(string)
		n, _ := t.Get(4).(int)
		if kind != "storage" || !isFloat || n < 0 {
			return nil, fmt.Errorf("%w: persistent id %v", ErrCheckpoint, id)
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		rec, ok := records[key]
		if !ok {
			return nil, fmt.Errorf("%w: storage %q has no record", ErrCheckpoint, key)
		}
		if rec.UncompressedSize64 != uint64(n)*4 {
			return nil, fmt.Errorf("%w: storage %q holds %d bytes, the pickle says %d floats", ErrCheckpoint, key, rec.UncompressedSize64, n)
		}
		f, err := rec.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: storage %q: %w", ErrCheckpoint, key, err)
		}
		defer f.Close()
		s := (&pytorch.FloatStorageClass{}).New(n, "cpu").(*pytorch.FloatStorage)
		if err := s.SetFromFileWithSize(f, n); err != nil {
			return nil, fmt.Errorf("%w: storage %q: %w", ErrCheckpoint, key, err)
		}
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("%w: unpickle: %w", ErrCheckpoint, err)
	}
	dict, ok := obj.(*types.OrderedDict)
	if !ok {
		return nil, fmt.Errorf("%w: top level is %T, not a state dict", ErrCheckpoint, obj)
	}
	out := make(map[string]Tensor, dict.Len())
	for k, v := range dict.Map {
		name, ok := k.(string)
		pt, isT := v.Value.(*pytorch.Tensor)
		if !ok || !isT {
			return nil, fmt.Errorf("%w: entry %v is %T, not a tensor", ErrCheckpoint, k, v.Value)
		}
		t, err := contiguous(pt)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, name, err)
		}
		out[name] = t
	}
	return out, nil
}

// contiguous returns pt's elements when they are stored row-major without
// gaps (as state dicts of nn.Linear and nn.Parameter are).
func contiguous(pt *pytorch.Tensor) (Tensor, error) {
	s, ok := pt.Source.(*pytorch.FloatStorage)
	if !ok || len(pt.Size) != len(pt.Stride) {
		return Tensor{}, errors.New("not an fp32 tensor")
	}
	n, want := 1, 1
	for i := len(pt.Size) - 1; i >= 0; i-- {
		if pt.Size[i] < 0 || (pt.Size[i] > 1 && pt.Stride[i] != want) {
			return Tensor{}, fmt.Errorf("shape %v strides %v are not contiguous", pt.Size, pt.Stride)
		}
		if pt.Size[i] > 0 && n > (1<<40)/pt.Size[i] {
			return Tensor{}, fmt.Errorf("shape %v is too large", pt.Size)
		}
		n *= pt.Size[i]
		want = n
	}
	if pt.StorageOffset < 0 || pt.StorageOffset+n > len(s.Data) {
		return Tensor{}, fmt.Errorf("shape %v at offset %d overruns its storage of %d", pt.Size, pt.StorageOffset, len(s.Data))
	}
	return Tensor{Shape: slices.Clone(pt.Size), Data: s.Data[pt.StorageOffset : pt.StorageOffset+n]}, nil
}
