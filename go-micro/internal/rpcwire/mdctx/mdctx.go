// Package mdctx holds the context key under which package metadata keeps a
// context's metadata, so that the client and server of go-micro can read
// and store it without the copies the public API of metadata makes.
//
// The value under [Key] is always a metadata.Metadata with canonical keys
// that nobody changes once stored (copy on write): code reading it must not
// change it, and code storing one must hand over a map that it and no one
// else will change afterwards. It has no state and is safe for concurrent
// use.
package mdctx

// Key is the context key of a context's metadata.Metadata.
type Key struct{}
