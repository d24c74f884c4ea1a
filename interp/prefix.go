package interp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/internal/llama"
)

// A prefix cache file holds the KV state of a program's evaluated prefix:
//
//	magic[8] key[32] payload_len[8, LE] payload_sha256[32] payload
//
// The key covers everything the state depends on, so a stale file is never
// found under a live key; the checksum catches corruption.
var prefixMagic = [8]byte{'P', 'A', 'W', 'K', 'V', 0, 1, 0}

const prefixHeader = 8 + 32 + 8 + 32

// errPrefixCache reports a prefix cache file that must not be trusted.
var errPrefixCache = errors.New("interp: prefix cache file invalid")

// prefixKey identifies a prefix state: engine build, KV layout (flash
// attention stores V untransposed, and llama.cpp rejects the other layout),
// base model, adapter and the prefix tokens.
func prefixKey(flashAttn bool, baseID, adapterSHA string, toks []llama.Token) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "paw-prefix-v1\x00%s\x00flash=%t\x00%s\x00%s\x00", llama.Commit, flashAttn, baseID, adapterSHA)
	binary.Write(h, binary.LittleEndian, toks)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// loadPrefix reads the state cached at path; a missing file returns (nil, nil).
func loadPrefix(path string, key [32]byte) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data) < prefixHeader || !bytes.Equal(data[:8], prefixMagic[:]) {
		return nil, fmt.Errorf("%w: bad header", errPrefixCache)
	}
	if !bytes.Equal(data[8:40], key[:]) {
		return nil, fmt.Errorf("%w: key mismatch", errPrefixCache)
	}
	n := binary.LittleEndian.Uint64(data[40:48])
	payload := data[prefixHeader:]
	if uint64(len(payload)) != n {
		return nil, fmt.Errorf("%w: %d payload bytes, header says %d", errPrefixCache, len(payload), n)
	}
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], data[48:80]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errPrefixCache)
	}
	return payload, nil
}

// savePrefix writes a state to path atomically.
func savePrefix(path string, key [32]byte, state []byte) error {
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		var hdr [prefixHeader]byte
		copy(hdr[:8], prefixMagic[:])
		copy(hdr[8:40], key[:])
		binary.LittleEndian.PutUint64(hdr[40:48], uint64(len(state)))
		sum := sha256.Sum256(state)
		copy(hdr[48:80], sum[:])
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		_, err := w.Write(state)
		return err
	})
}
