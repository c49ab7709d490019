//go:build !race

package selector

import "testing"

// TestSelectAllocs guards the design of the hot path: a Select over a
// cached service copies no service (a copy of this one costs hundreds of
// allocations), only the node Next hands out. Allocation counts, not
// timings, so it holds on any machine; the race detector changes them.
func TestSelectAllocs(t *testing.T) {
	for _, bc := range benchCases() {
		t.Run(bc.name, func(t *testing.T) {
			s := newBenchSelector(t, 50)
			call := func() {
				next, err := s.Select(t.Context(), "greeter", bc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				n, err := next()
				if err != nil {
					t.Fatal(err)
				}
				s.Mark("greeter", n, nil)
			}
			call()
			if got := testing.AllocsPerRun(200, call); got > 15 {
				t.Fatalf("%v allocations per Select, Next and Mark; want at most 15", got)
			}
		})
	}
}
