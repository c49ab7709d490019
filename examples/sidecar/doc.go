// Package sidecar is the sidecar example: app.js, a Node.js app that joins
// a go-micro platform through `micro sidecar` over plain HTTP and
// websockets. It looks the greeter (examples/greeter) up in the registry,
// calls it (POST /rpc), subscribes to a topic and publishes on it
// (/broker websockets), and serves a health endpoint that a second
// sidecar, `micro sidecar --server_name --server_address
// --healthcheck_url`, registers it by. See README.md for the commands.
//
// The package has no Go code but its test, which runs micro server, the
// greeter, app.js and that second sidecar as processes and checks what
// app.js prints, what the greeter received and what the registry holds.
// It needs node (20 or later) on PATH: without it the test is skipped
// with the reason, or fails under MICRO_TEST_REQUIRE=all (or =node).
package sidecar
