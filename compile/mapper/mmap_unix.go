//go:build unix

package mapper

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// mapFile maps a file read-only; unmap releases it.
func mapFile(path string) (data []byte, unmap func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}

// dropPages tells the kernel that part, a slice of the mapping m, is done
// with, so that its whole pages leave the process's resident set (they stay
// in the page cache): a conversion's memory stays near one slice instead of
// growing to the checkpoint's size.
func dropPages(m, part []byte) {
	if len(part) == 0 {
		return
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(part))) - uintptr(unsafe.Pointer(unsafe.SliceData(m))))
	page := os.Getpagesize()
	lo, hi := (off+page-1)/page*page, (off+len(part))/page*page
	if off >= 0 && hi <= len(m) && hi > lo {
		_ = syscall.Madvise(m[lo:hi], syscall.MADV_DONTNEED)
	}
}
