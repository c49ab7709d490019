module github.com/openmicro/go-plugins/broker/rabbitmq

go 1.26.7

require (
	github.com/openmicro/go-micro v0.0.0
	github.com/rabbitmq/amqp091-go v1.16.0
	go.uber.org/goleak v1.3.0
)

replace github.com/openmicro/go-micro => ../../../go-micro
