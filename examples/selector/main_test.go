package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	for _, region := range []string{"eu", "us"} {
		var out bytes.Buffer
		if err := run(t.Context(), region, 20, &out); err != nil {
			t.Fatal(err)
		}
		want := strings.Repeat("answered from "+region+"\n", 20)
		if out.String() != want {
			t.Errorf("prefer %s:\n%s", region, out.String())
		}
	}
	// No node in "asia": the filter falls back to every node.
	var out bytes.Buffer
	if err := run(t.Context(), "asia", 20, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "answered from"); n != 20 {
		t.Errorf("fallback: %d answers, want 20:\n%s", n, out.String())
	}
}
