package cli

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
	return args, nil
}

// checkJSON reports malformed JSON as bad input, with the parser's
// message and where it stopped.
func checkJSON(text string) error {
	dec := stdjson.NewDecoder(strings.NewReader(text))
	var v stdjson.RawMessage
	err := dec.Decode(&v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			return badInput("malformed JSON: more than one value (after offset %d)", dec.InputOffset())
		}
		return nil
	}
	var se *stdjson.SyntaxError
	switch {
	case errors.As(err, &se):
		return badInput("malformed JSON: %v (at offset %d)", se, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badInput("malformed JSON: unexpected end of input")
	}
	return badInput("malformed JSON: %v", err)
}

// jsonBody returns the request body of a call: the argument when given,
// "{}" when not.
func jsonBody(args []string, i int) ([]byte, error) {
	if len(args) <= i {
		return []byte("{}"), nil
	}
	if err := checkJSON(args[i]); err != nil {
		return nil, err
	}
	return bytes.TrimSpace([]byte(args[i])), nil
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
