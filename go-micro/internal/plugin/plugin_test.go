package plugin

import (
	"strings"
	"testing"
)

type factory func() string

func TestTable(t *testing.T) {
	tb := New[factory]("widget")
	tb.Register("b", func() string { return "b" })
	tb.Register("a", func() string { return "a" })

	f, err := tb.Lookup("a")
	if err != nil {
		t.Fatal(err)
	}
	if got := f(); got != "a" {
		t.Fatalf("Lookup(a)() = %q", got)
	}
	if got := strings.Join(tb.Names(), ","); got != "a,b" {
		t.Fatalf("Names() = %q, want a,b", got)
	}

	_, err = tb.Lookup("zzz")
	if err == nil {
		t.Fatal("Lookup of an unknown name succeeded")
	}
	for _, want := range []string{`"zzz"`, "a, b", "forgotten import?", "widget:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestTableRegisterPanics(t *testing.T) {
	cases := map[string]func(tb *Table[factory]){
		"nil factory": func(tb *Table[factory]) { tb.Register("x", nil) },
		"empty name":  func(tb *Table[factory]) { tb.Register("", func() string { return "" }) },
		"duplicate": func(tb *Table[factory]) {
			tb.Register("x", func() string { return "" })
			tb.Register("x", func() string { return "" })
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			fn(New[factory]("widget"))
		})
	}
}
