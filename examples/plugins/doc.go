// Package plugins runs the greeter example over every transport and broker
// plugin: the same service, chosen by name with the flags a user would
// type (--transport=nats --broker=rabbitmq), with the plugins added by
// blank imports. Its test is the end-to-end check that each pair carries
// the greeter's RPC (unary and a server stream) and its pub/sub.
package plugins

import (
	// The plugins, registered by name by their blank imports.
	_ "github.com/openmicro/go-plugins/broker/mqtt"
	_ "github.com/openmicro/go-plugins/broker/nats"
	_ "github.com/openmicro/go-plugins/broker/rabbitmq"
	_ "github.com/openmicro/go-plugins/transport/nats"
	_ "github.com/openmicro/go-plugins/transport/rabbitmq"
)
