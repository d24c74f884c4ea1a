package schema

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// FromGoType returns a JSON Schema for v's type, ready for JSON: struct
// fields by their json tags, additionalProperties false, and every field
// required unless its tag says omitempty (or omitzero). Nested struct types
// become $defs with $ref. The schema is checked with JSON, so types outside
// the supported subset (maps give objects with no generated members,
// for instance) are reported now.
func FromGoType(v any) ([]byte, error) {
	r := jsonschema.Reflector{Anonymous: true}
	s := r.Reflect(v)
	s.ID = ""
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("schema: encode schema for %T: %w", v, err)
	}
	if _, err := JSON(data); err != nil {
		return nil, fmt.Errorf("schema for %T: %w", v, err)
	}
	return data, nil
}
