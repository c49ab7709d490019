package cli

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"
)

// exactArgs returns the arguments when there are as many as names, and a
// usage error naming what is missing or extra otherwise.
func exactArgs(c *ucli.Context, names ...string) ([]string, error) {
	return rangeArgs(c, len(names), names...)
}

// rangeArgs returns the arguments when there are between min and
// len(names) of them.
func rangeArgs(c *ucli.Context, min int, names ...string) ([]string, error) {
	args := c.Args().Slice()
	switch {
	case len(args) < min:
		return nil, usage(c, "missing %s", strings.Join(names[len(args):min], " and "))
	case len(args) > len(names):
		return nil, usage(c, "unexpected argument %q (flags go before the arguments or right after them)", args[len(names)])
	}
	for i, a := range args {
		if strings.TrimSpace(a) == "" && names[i] != "JSON" {
			return nil, usage(c, "%s is empty", names[i])
		}
	}
	return args, nil
}

// checkJSON reports malformed JSON as bad input, with the parser's
// message and the offset (from 0) of the byte where it stopped.
func checkJSON(text string) error {
	dec := stdjson.NewDecoder(strings.NewReader(text))
	var v stdjson.RawMessage
	err := dec.Decode(&v)
	if err == nil {
		end := int(dec.InputOffset())
		rest := strings.TrimLeft(text[end:], " \t\r\n")
		if rest != "" {
			r, _ := utf8.DecodeRuneInString(rest)
			return badInput("malformed JSON: invalid character %s after the value (at offset %d)",
				strconv.QuoteRune(r), len(text)-len(rest))
		}
		// encoding/json takes invalid UTF-8 in strings; JSON text is
		// UTF-8 (RFC 8259), and the receiving codec may refuse it.
		if !utf8.ValidString(text) {
			return badInput("malformed JSON: invalid UTF-8 (at offset %d)", invalidUTF8(text))
		}
		return nil
	}
	var se *stdjson.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the bad one included.
		return badInput("malformed JSON: %v (at offset %d)", se, max(se.Offset-1, 0))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badInput("malformed JSON: unexpected end of input")
	}
	return badInput("malformed JSON: %v", err)
}

// invalidUTF8 returns the offset of the first byte of s that is not valid
// UTF-8.
func invalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return len(s)
}

// maxStdin bounds the JSON read from stdin.
const maxStdin = 16 << 20

// jsonArg returns the text of a JSON argument: the argument itself, or
// for "-" what stdin holds, up to maxStdin bytes.
func jsonArg(o *options, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	r := o.stdin
	if r == nil {
		r = os.Stdin
	}
	b, err := io.ReadAll(io.LimitReader(r, maxStdin+1))
	if err != nil {
		return "", failure("reading the JSON from stdin: %v", err)
	}
	if len(b) > maxStdin {
		return "", badInput("the JSON on stdin is larger than %d MiB", maxStdin>>20)
	}
	return string(b), nil
}

// jsonBody returns the request body of a call: the argument when given
// ("-" reads stdin), "{}" when not.
func jsonBody(o *options, args []string, i int) ([]byte, error) {
	if len(args) <= i {
		return []byte("{}"), nil
	}
	text, err := jsonArg(o, args[i])
	if err != nil {
		return nil, err
	}
	if err := checkJSON(text); err != nil {
		return nil, err
	}
	return bytes.TrimSpace([]byte(text)), nil
}

// metadataFlag is a repeatable key=value flag that, unlike a string slice
// flag, never splits a value at commas.
type metadataFlag struct {
	pairs map[string]string
	order []string
}

func (m *metadataFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	if m.pairs == nil {
		m.pairs = make(map[string]string)
	}
	if _, seen := m.pairs[k]; !seen {
		m.order = append(m.order, k)
	}
	m.pairs[k] = v
	return nil
}

func (m *metadataFlag) String() string {
	if m == nil {
		return ""
	}
	parts := make([]string, len(m.order))
	for i, k := range m.order {
		parts[i] = k + "=" + m.pairs[k]
	}
	return strings.Join(parts, ",")
}
