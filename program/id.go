package program

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// ID returns the program's id (meta.json program_id).
func (p *Program) ID() string { return p.Meta.ProgramID }

// ValidID reports whether s is a program id: 16 to 64 lowercase hex digits.
func ValidID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// NewID returns a content id for a locally packed program: the first 32 hex
// digits of the SHA-256 of the template's length (8 bytes, little endian),
// the template text and the adapter bytes. Programs with the same template
// and adapter get the same id.
func NewID(p *Program) string {
	h := sha256.New()
	t := p.Template.String()
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(t))))
	h.Write([]byte(t))
	h.Write(p.Adapter)
	return hex.EncodeToString(h.Sum(nil))[:32]
}
