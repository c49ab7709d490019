package codec

import "github.com/openmicro/go-micro/internal/plugin"

var table = plugin.New[NewCodec]("codec")

// Register makes a codec available for a content type
// ("application/json"). Implementations call it from init. It panics on an
// empty content type, a nil constructor or a content type registered twice.
func Register(contentType string, f NewCodec) { table.Register(contentType, f) }

// Lookup returns the codec constructor for a content type. Parameters after
// a ';' ("application/json; charset=utf-8") are ignored. An unknown content
// type yields an error listing the registered ones.
func Lookup(contentType string) (NewCodec, error) {
	return table.Lookup(MediaType(contentType))
}

// ContentTypes lists the registered content types, sorted.
func ContentTypes() []string { return table.Names() }

// MediaType strips parameters and surrounding space from a Content-Type
// value and lower-cases it.
func MediaType(contentType string) string {
	for i := 0; i < len(contentType); i++ {
		if contentType[i] == ';' {
			contentType = contentType[:i]
			break
		}
	}
	return toLowerTrim(contentType)
}

func toLowerTrim(s string) string {
	start, end := 0, len(s)
	for start < end && (s[start] == ' ' || s[start] == '\t') {
		start++
	}
	for end > start && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	s = s[start:end]
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
