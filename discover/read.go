package discover

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// MaxLineBytes caps one log line; a longer line is malformed.
const MaxLineBytes = 16 << 20

// MaxLineErrors is how many malformed lines a Discoverer keeps to report;
// past it they are only counted.
const MaxLineErrors = 20

// Options configure a Discoverer; the zero value works.
type Options struct {
	Format Format // the logs' format; FormatAuto tells each file's own
	Fields Fields // field names of FormatGeneric
	// Sample is the examples kept per template (DefaultSample): the cases
	// and training examples an export writes come from it.
	Sample int
	// MaxGroups caps the model+system groups and MaxTemplates the templates
	// (DefaultMaxGroups, DefaultMaxTemplates); calls past them are counted
	// as unclustered.
	MaxGroups, MaxTemplates int
	Seed                    uint64 // of the reservoir sampling
}

// LineError is a malformed log line.
type LineError struct {
	File string
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap makes every *LineError match ErrFormat.
func (e *LineError) Unwrap() []error { return []error{ErrFormat, e.Err} }

// Stats counts what was read.
type Stats struct {
	Bytes      int64 // log bytes read (after decompression)
	Lines      int
	Calls      int
	Malformed  int
	Unanswered int          // Batch API inputs without an output line
	Errors     []*LineError // the first MaxLineErrors malformed lines
}

// Discoverer reads logs and mines their templates. It is not safe for
// concurrent use.
type Discoverer struct {
	opts    Options
	miner   *miner
	answers map[string]Call // Batch API answers by custom_id
	stats   Stats
}

// New returns a Discoverer.
func New(opts Options) *Discoverer {
	if opts.Sample <= 0 {
		opts.Sample = DefaultSample
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	if opts.MaxTemplates <= 0 {
		opts.MaxTemplates = DefaultMaxTemplates
	}
	return &Discoverer{opts: opts, miner: newMiner(opts), answers: map[string]Call{}}
}

// Add mines one call.
func (d *Discoverer) Add(c Call) {
	d.stats.Calls++
	d.miner.add(c)
}

// Stats returns the counts so far.
func (d *Discoverer) Stats() Stats { return d.stats }

// ReadFiles reads logs. Batch API output files are read before the rest,
// so that each input line finds its answer as it streams by; their answers
// are the one thing held whole (the API caps a batch at 50,000 requests).
func (d *Discoverer) ReadFiles(ctx context.Context, paths []string) error {
	formats := make([]Format, len(paths))
	for i, p := range paths {
		f := d.opts.Format
		if f == FormatAuto {
			var err error
			if f, err = sniff(p); err != nil {
				return err
			}
		}
		formats[i] = f
	}
	// Batch outputs first, then the rest, each in the order given.
	for _, out := range []bool{true, false} {
		for i, p := range paths {
			if (formats[i] == FormatBatchOutput) == out {
				if err := d.readFile(ctx, p, formats[i]); err != nil {
					return err
				}
			}
		}
	}
	clear(d.answers) // answers whose input was in no file given
	return nil
}

// sniff tells a file's format from its first line that is a JSON object.
func sniff(path string) (Format, error) {
	var found Format
	err := eachLine(context.Background(), path, func(_ int, line []byte) error {
		if f, ok := detect(line); ok {
			found = f
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", err
	}
	if found == "" {
		return FormatGeneric, nil
	}
	return found, nil
}

var errStop = errors.New("stop")

// Read reads one log of format f (not FormatAuto) from r, named name in
// line errors. Lines are parsed in parallel (JSON decoding is most of the
// work), in batches of bounded size, and mined in their order.
func (d *Discoverer) Read(ctx context.Context, r io.Reader, name string, f Format) error {
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *batch, workers)
	order := make(chan *batch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range jobs {
				b.parse(f, d.opts.Fields)
				close(b.done)
			}
		})
	}
	errc := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		cur := newBatch()
		flush := func() {
			jobs <- cur
			order <- cur
			cur = newBatch()
		}
		err := eachLineReader(ctx, r, func(n int, line []byte) error {
			lo := len(cur.data)
			cur.data = append(cur.data, line...)
			cur.lines = append(cur.lines, parsed{n: n, lo: lo, hi: len(cur.data)})
			if len(cur.lines) == batchLines || len(cur.data) >= batchBytes {
				flush()
			}
			return nil
		}, func(n int, err error) { cur.lines = append(cur.lines, parsed{n: n, err: err}) })
		if len(cur.lines) > 0 {
			flush()
		}
		errc <- err
	}()
	for b := range order {
		<-b.done
		for _, p := range b.lines {
			d.stats.Lines++
			d.stats.Bytes += int64(p.hi-p.lo) + 1
			if p.err != nil {
				d.malformed(&LineError{File: name, Line: p.n, Err: p.err})
			} else {
				d.apply(f, p.id, p.call)
			}
		}
	}
	wg.Wait()
	return <-errc
}

// Batch bounds: lines and bytes parsed by one worker at a time.
const (
	batchLines = 512
	batchBytes = 1 << 20
)

// batch is consecutive lines and, once done is closed, their parses.
type batch struct {
	data  []byte
	lines []parsed
	done  chan struct{}
}

// parsed is one line (data[lo:hi], number n) and its parse; err is set
// before parsing for a line too long to read.
type parsed struct {
	n, lo, hi int
	id        string
	call      Call
	err       error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

func (b *batch) parse(f Format, fields Fields) {
	for i := range b.lines {
		p := &b.lines[i]
		if p.err != nil {
			continue
		}
		line := b.data[p.lo:p.hi]
		switch f {
		case FormatOpenAI:
			p.call, p.err = ParseOpenAI(line)
		case FormatBatchOutput:
			p.id, p.call, p.err = ParseBatchOutput(line)
		case FormatBatchInput:
			p.id, p.call, p.err = ParseBatchInput(line)
		default:
			p.call, p.err = fields.Parse(line)
		}
	}
}

// apply mines one parsed call: a Batch API answer waits for its input, an
// input takes its answer.
func (d *Discoverer) apply(f Format, id string, c Call) {
	switch f {
	case FormatBatchOutput:
		d.answers[id] = c
		return
	case FormatBatchInput:
		a, ok := d.answers[id]
		if !ok {
			d.stats.Unanswered++
			return
		}
		delete(d.answers, id)
		c.Output, c.Time, c.PromptTokens, c.CompletionTokens = a.Output, a.Time, a.PromptTokens, a.CompletionTokens
		if c.Model == "" {
			c.Model = a.Model
		}
	}
	d.Add(c)
}

func (d *Discoverer) readFile(ctx context.Context, path string, f Format) error {
	return openLog(path, func(r io.Reader) error {
		if err := d.Read(ctx, r, path, f); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		return nil
	})
}

// openLog calls fn with the log at path, gunzipped when it is gzip.
func openLog(path string, fn func(r io.Reader) error) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer file.Close()
	r, err := decompress(file)
	if err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	return fn(r)
}

func (d *Discoverer) malformed(e *LineError) {
	d.stats.Malformed++
	if len(d.stats.Errors) < MaxLineErrors {
		d.stats.Errors = append(d.stats.Errors, e)
	}
}

// decompress returns r, gunzipped when it starts with gzip's magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

func eachLine(ctx context.Context, path string, fn func(n int, line []byte) error) error {
	return openLog(path, func(r io.Reader) error {
		return eachLineReader(ctx, r, fn, func(int, error) {})
	})
}

// eachLineReader calls fn with each non-blank line of r (trimmed) and its
// 1-based number, and bad with the number of each line over MaxLineBytes
// (skipped). A read error, ctx's end or fn's error stops it.
func eachLineReader(ctx context.Context, r io.Reader, fn func(n int, line []byte) error, bad func(n int, err error)) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	var long []byte
	tooLong := false
	for n := 1; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		chunk, err := br.ReadSlice('\n')
		line := chunk
		if errors.Is(err, bufio.ErrBufferFull) || long != nil {
			// A line longer than the buffer: gather it, up to the cap.
			if !tooLong {
				if len(long)+len(chunk) > MaxLineBytes {
					tooLong, long = true, long[:0]
				} else {
					long = append(long, chunk...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				n--
				continue
			}
			line = long
		}
		if tooLong {
			bad(n, fmt.Errorf("line longer than %d bytes", MaxLineBytes))
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			if ferr := fn(n, line); ferr != nil {
				return ferr
			}
		}
		long, tooLong = nil, false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
