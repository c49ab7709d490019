// Package metadata carries a string map in a context.Context. The client
// sends it with every request as headers and the server puts the headers it
// receives back into the handler's context, so values such as a user id or a
// trace id flow across calls.
//
// Keys are case-insensitive: they are stored in canonical form ("x-user-id"
// and "X-USER-ID" both become "X-User-Id", see [CanonicalKey]). Case is
// folded for ASCII letters only, as in HTTP header names; other bytes are
// kept as they are. When a map given to [New], [NewContext] or [Merge] holds
// several keys of one canonical form, the value of the key already in
// canonical form wins, and otherwise that of the key that sorts last, so
// the result never depends on map order. [Pairs] keeps the last pair. The
// methods of Metadata look keys up in canonical form, so a Metadata built as
// a map literal should use canonical keys or go through New.
//
// A Metadata taken from a context
// is a copy, and every function that adds to a context copies the map first
// (copy on write), so no caller can change what another context sees.
// Everything here is safe for concurrent use.
package metadata

import (
	"context"
	"maps"

	"github.com/openmicro/go-micro/internal/rpcwire/mdctx"
)

// Metadata is a map of canonical keys to values.
type Metadata map[string]string

// mdKey is shared with go-micro's client and server (see package mdctx),
// which read and store the map without copying it on the hot path, keeping
// to the same copy-on-write rule.
type mdKey = mdctx.Key

// CanonicalKey returns the canonical form of a key: each dash-separated word
// starts upper case and continues lower case, as in HTTP headers ("a--b"
// gives "A--B", "-x-" gives "-X-"). Unlike net/textproto it canonicalises
// every key, so case-insensitivity holds for keys with spaces or other
// characters too. Only ASCII letters change case; any other byte, including
// those of non-ASCII UTF-8 letters, is kept, so CanonicalKey(CanonicalKey(k))
// == CanonicalKey(k) for every k.
func CanonicalKey(k string) string {
	// Fast path: already canonical.
	upper := true
	canonical := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
			break
		}
		upper = c == '-'
	}
	if canonical {
		return k
	}
	b := []byte(k)
	upper = true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// New returns a Metadata holding the pairs of m under canonical keys; see
// the package doc for keys that share a canonical form.
func New(m map[string]string) Metadata {
	md := make(Metadata, len(m))
	for k, v := range m {
		md[CanonicalKey(k)] = v
	}
	if len(md) < len(m) {
		settle(md, m)
	}
	return md
}

// settle gives each canonical key of md that several keys of m share the
// value of the winning key: the one in canonical form, else the greatest.
func settle(md Metadata, m map[string]string) {
	winner := make(map[string]string, len(md))
	for k := range m {
		ck := CanonicalKey(k)
		w, seen := winner[ck]
		if !seen || w != ck && (k == ck || k > w) {
			winner[ck] = k
		}
	}
	for ck, k := range winner {
		md[ck] = m[k]
	}
}

// Pairs returns a Metadata from alternating keys and values. An odd trailing
// key gets the empty value.
func Pairs(kv ...string) Metadata {
	md := make(Metadata, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		md[CanonicalKey(kv[i])] = v
	}
	return md
}

// Get returns the value for key, in any case.
func (md Metadata) Get(key string) (string, bool) {
	v, ok := md[CanonicalKey(key)]
	return v, ok
}

// Set stores value under the canonical form of key.
func (md Metadata) Set(key, value string) { md[CanonicalKey(key)] = value }

// Delete removes key, in any case.
func (md Metadata) Delete(key string) { delete(md, CanonicalKey(key)) }

// Copy returns an independent copy.
func (md Metadata) Copy() Metadata { return maps.Clone(md) }

// NewContext returns a context carrying a copy of md (keys canonicalised),
// replacing any metadata ctx already carries.
func NewContext(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, mdKey{}, New(md))
}

// FromContext returns a copy of the metadata in ctx. The copy is the
// caller's to change.
func FromContext(ctx context.Context) (Metadata, bool) {
	md, ok := ctx.Value(mdKey{}).(Metadata)
	if !ok {
		return nil, false
	}
	return md.Copy(), true
}

// Get returns one value from the metadata in ctx without copying the map.
func Get(ctx context.Context, key string) (string, bool) {
	md, ok := ctx.Value(mdKey{}).(Metadata)
	if !ok {
		return "", false
	}
	return md.Get(key)
}

// Set returns a context whose metadata is that of ctx with key set to
// value. ctx itself is unchanged.
func Set(ctx context.Context, key, value string) context.Context {
	md, _ := ctx.Value(mdKey{}).(Metadata)
	n := make(Metadata, len(md)+1)
	maps.Copy(n, md)
	n[CanonicalKey(key)] = value
	return context.WithValue(ctx, mdKey{}, n)
}

// Delete returns a context whose metadata is that of ctx without key.
func Delete(ctx context.Context, key string) context.Context {
	md, ok := ctx.Value(mdKey{}).(Metadata)
	if !ok {
		return ctx
	}
	n := md.Copy()
	delete(n, CanonicalKey(key))
	return context.WithValue(ctx, mdKey{}, n)
}

// Merge returns a context whose metadata is that of ctx combined with md.
// Where both have a key, md wins when overwrite is true and ctx otherwise.
func Merge(ctx context.Context, md Metadata, overwrite bool) context.Context {
	old, _ := ctx.Value(mdKey{}).(Metadata)
	n := make(Metadata, len(old)+len(md))
	maps.Copy(n, old)
	for k, v := range New(md) {
		if _, exists := n[k]; exists && !overwrite {
			continue
		}
		n[k] = v
	}
	return context.WithValue(ctx, mdKey{}, n)
}
