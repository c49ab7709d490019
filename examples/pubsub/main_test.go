package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var line = regexp.MustCompile(`(?m)^(\S+) received (\d+) events`)

// TestRun: the two workers share the events exactly, audit gets them all.
func TestRun(t *testing.T) {
	const n = 50
	var out bytes.Buffer
	if err := run(t.Context(), n, &out); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, m := range line.FindAllStringSubmatch(out.String(), -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	if counts["audit"] != n {
		t.Errorf("audit got %d events, want %d\n%s", counts["audit"], n, out.String())
	}
	if w := counts["worker-1"] + counts["worker-2"]; w != n {
		t.Errorf("the workers got %d events between them, want exactly %d\n%s", w, n, out.String())
	}
	t.Logf("\n%s", out.String())
}
