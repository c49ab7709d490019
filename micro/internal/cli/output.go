package cli

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/registry"
)

// The values of --output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// outputFlag is the --output flag of the commands that read.
func outputFlag() ucli.Flag {
	return &ucli.StringFlag{
		Name:    "output",
		Aliases: []string{"o"},
		Usage:   "how to print the result: table (aligned, for people) or json (for scripts)",
		Value:   outputTable,
		EnvVars: []string{"MICRO_OUTPUT"},
		Action: func(c *ucli.Context, v string) error {
			if v != outputTable && v != outputJSON {
				return usage(c, "--output %q: want table or json", v)
			}
			return nil
		},
	}
}

// jsonOutput reports whether the command prints JSON.
func jsonOutput(c *ucli.Context) bool { return c.String("output") == outputJSON }

// writeJSON prints v as indented JSON on a line of its own.
func writeJSON(w io.Writer, v any) error {
	b, err := stdjson.MarshalIndent(v, "", "  ")
	if err != nil {
		return failure("encoding the output: %v", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// indentJSON indents a JSON text for people; what does not parse is
// returned as it is.
func indentJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := stdjson.Indent(&buf, raw, "", "  "); err != nil {
		return raw
	}
	return buf.Bytes()
}

// compactJSON puts a JSON text on one line; what does not parse is
// returned as it is.
func compactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := stdjson.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

// newTable returns a table that writes to w, starting with the header
// when one is given.
func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// pairs renders a map as sorted key=value pairs separated by spaces.
func pairs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// writeShape writes a registry Value tree as a Go-like struct:
//
//	greeter.HelloRequest {
//	    name string
//	}
//
// indent is the indentation of the lines after the first.
func writeShape(w io.Writer, v *registry.Value, indent string) {
	if v == nil {
		fmt.Fprintln(w, "-")
		return
	}
	typ := v.Type
	if typ == "" {
		typ = v.Name
	}
	if len(v.Values) == 0 {
		fmt.Fprintf(w, "%s {}\n", typ)
		return
	}
	fmt.Fprintf(w, "%s {\n", typ)
	writeFields(w, v.Values, indent+"    ")
	fmt.Fprintf(w, "%s}\n", indent)
}

// writeFields writes the fields of a struct, names aligned, and the fields
// of a field that has some inside braces.
func writeFields(w io.Writer, fields []*registry.Value, indent string) {
	width := 0
	for _, f := range fields {
		if f != nil {
			width = max(width, len(f.Name))
		}
	}
	for _, f := range fields {
		if f == nil {
			continue
		}
		fmt.Fprintf(w, "%s%-*s %s", indent, width, f.Name, f.Type)
		if len(f.Values) == 0 {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintln(w, " {")
		writeFields(w, f.Values, indent+"    ")
		fmt.Fprintf(w, "%s}\n", indent)
	}
}
