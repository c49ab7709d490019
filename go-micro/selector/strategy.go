package selector

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/openmicro/go-micro/registry"
)

// Strategy orders the usable nodes of one Select: Next hands them out in
// the order the Strategy returns, skipping repeats. A Strategy is called
// concurrently and must not modify p.Nodes; it returns a new slice.
type Strategy func(p Pick) []*registry.Node

// Pick is what a [Strategy] sees of one Select.
type Pick struct {
	// Service is the name of the service selected.
	Service string
	// Key is the Select's [WithKey] value; empty when none was given.
	Key string
	// Nodes are the usable nodes (filtered, not blacklisted), sorted by id.
	Nodes []*registry.Node
	// Counter belongs to the service and its set of usable nodes: the
	// selector keeps it across Select calls, shared by every strategy used
	// for that service, and keeps one per distinct set, so that Selects
	// that filter or blacklist differently do not take each other's turns.
	// The counter of a service's first set starts at 0; that of a later
	// set at a random turn.
	// It may be nil when a strategy is called outside a selector.
	Counter *atomic.Uint64
}

// Random orders the nodes at random.
func Random(p Pick) []*registry.Node {
	out := slices.Clone(p.Nodes)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// RoundRobin starts each Select at the node after the one the previous
// Select of the service started at, then continues in id order. The turn
// is taken with one atomic add on the service's counter, so concurrent
// callers share the nodes evenly: over k nodes, every run of k Selects
// starts once on each node.
func RoundRobin(p Pick) []*registry.Node {
	n := len(p.Nodes)
	if n == 0 {
		return nil
	}
	var turn uint64
	if p.Counter != nil {
		turn = p.Counter.Add(1) - 1
	}
	start := int(turn % uint64(n))
	out := make([]*registry.Node, 0, n)
	out = append(out, p.Nodes[start:]...)
	return append(out, p.Nodes[:start]...)
}

// Hash maps the Select's key ([WithKey]) to a node by rendezvous (highest
// random weight) hashing: every node gets a score hashed from the key and
// its id, and the nodes are tried from the highest score down. A key stays
// on its node while that node is usable; when a node leaves only its keys
// move, and a node that joins takes about 1/n of the keys from the others.
// The hash is FNV-1a with a fixed mix, the same in every process. Without
// a key, Hash is [Random].
func Hash(p Pick) []*registry.Node {
	if p.Key == "" {
		return Random(p)
	}
	type scored struct {
		n     *registry.Node
		score uint64
	}
	var small [16]scored
	s := small[:0]
	if len(p.Nodes) > len(small) {
		s = make([]scored, 0, len(p.Nodes))
	}
	prefix := fnvByte(fnvString(fnvOffset, p.Key), 0) // keeps ("ab","c") apart from ("a","bc")
	for _, n := range p.Nodes {
		s = append(s, scored{n, mix(fnvString(prefix, n.Id))})
	}
	slices.SortFunc(s, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.n.Id, b.n.Id))
	})
	out := make([]*registry.Node, len(s))
	for i, x := range s {
		out[i] = x.n
	}
	return out
}

// score is the rendezvous weight of node id for key.
func score(key, id string) uint64 {
	return mix(fnvString(fnvByte(fnvString(fnvOffset, key), 0), id))
}

// FNV-1a, 64 bits, over strings without converting them to bytes.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

// mix is a 64-bit finaliser (from SplitMix64) that spreads FNV's output, so
// that keys differing in a few bits still rank nodes independently.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
