package kvcache

import "sync"

// Pins records the cache files that live objects of this process still use
// (a loaded function may read its prefix state back at any time), so that
// eviction skips them. The zero value is ready; it is safe for concurrent use.
type Pins struct {
	mu sync.Mutex
	m  map[string]map[any]struct{} // path -> holders
}

// Pin marks path as used by holder; pinning twice is the same as once.
func (p *Pins) Pin(path string, holder any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]map[any]struct{}{}
	}
	if p.m[path] == nil {
		p.m[path] = map[any]struct{}{}
	}
	p.m[path][holder] = struct{}{}
}

// Unpin drops every pin holder has.
func (p *Pins) Unpin(holder any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for path, hs := range p.m {
		delete(hs, holder)
		if len(hs) == 0 {
			delete(p.m, path)
		}
	}
}

// InUse reports whether anything pins path.
func (p *Pins) InUse(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m[path]) > 0
}
