// Package e2e holds go-micro's end-to-end tests and benchmarks: real
// servers and clients on loopback sockets over the default http transport
// and http broker, with the memory registry between them. It has no
// non-test code.
package e2e
