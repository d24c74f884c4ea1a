//go:build !unix

package mapper

import "os"

// mapFile reads a file whole where memory mapping is not available.
func mapFile(path string) (data []byte, unmap func(), err error) {
	data, err = os.ReadFile(path)
	return data, func() {}, err
}

// dropPages does nothing: the file was read, not mapped.
func dropPages(m, part []byte) {}
