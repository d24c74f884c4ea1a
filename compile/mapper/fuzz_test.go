package mapper

import (
	"bytes"
	"os"
	"testing"
)

// FuzzReadCheckpoint: arbitrary bytes never panic the checkpoint reader,
// and whatever it accepts holds tensors whose data fits their shapes.
func FuzzReadCheckpoint(f *testing.F) {
	seed, err := os.ReadFile("testdata/tiny.pt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := ReadCheckpoint(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for name, ts := range sd {
			n := 1
			for _, d := range ts.Shape {
				n *= d
			}
			if n != len(ts.Data) {
				t.Errorf("%s: shape %v with %d values", name, ts.Shape, len(ts.Data))
			}
		}
	})
}

// TestReadTiny: the committed seed (torch.save of a two-tensor OrderedDict)
// reads back with its values.
func TestReadTiny(t *testing.T) {
	sd, err := LoadCheckpoint("testdata/tiny.pt")
	if err != nil {
		t.Fatal(err)
	}
	w := sd["trunk.0.weight"]
	if len(sd) != 2 || len(w.Shape) != 2 || w.Shape[0] != 2 || w.Data[3] != 3 || sd["trunk.0.bias"].Data[1] != 1 {
		t.Errorf("read %+v", sd)
	}
}
